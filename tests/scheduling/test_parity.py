"""Capacity, holds, time off and booking rules: the same scenario through both faces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bookings.helpers import book_body
from tests.factories import BOOKS, SLOTS, future, iso
from tests.graphql.helpers import gql
from tests.graphql.test_parity import assert_same_error
from tests.scheduling.helpers import HOLDS, TIME_OFFS, hold_body, time_off_body

HOLD = "id availableSlotId patientId status expiresAt createdAt updatedAt resourceId"
CREATE_HOLD = f"mutation($input: CreateHoldInput!) {{ createHold(input: $input) {{ {HOLD} }} }}"
GET_HOLD = f"query($id: Int!) {{ hold(id: $id) {{ {HOLD} }} }}"
LIST_HOLDS = f"""query($filter: HoldFilter) {{
  holds(filter: $filter) {{ totalCount nodes {{ {HOLD} }} }} }}"""
RELEASE_HOLD = "mutation($id: Int!) { releaseHold(id: $id) { id released } }"
CREATE_BOOK = """mutation($input: CreateBookInput!) {
  createBook(input: $input) { id availableSlotId patientId status } }"""
TIME_OFF = """id providerId startTime endTime reason blockedSlotIds bookedSlotIds
  createdAt updatedAt"""
CREATE_TIME_OFF = f"""mutation($input: CreateTimeOffInput!) {{
  createTimeOff(input: $input) {{ {TIME_OFF} }} }}"""
GET_TIME_OFF = f"query($id: Int!) {{ timeOff(id: $id) {{ {TIME_OFF} }} }}"
LIST_TIME_OFFS = f"""query($filter: TimeOffFilter) {{
  timeOffs(filter: $filter) {{ totalCount nodes {{ {TIME_OFF} }} }} }}"""
DELETE_TIME_OFF = "mutation($id: Int!) { deleteTimeOff(id: $id) { id deleted } }"
SLOT = "query($id: Int!) { availableSlot(id: $id) { available capacity bookedCount } }"
UPDATE_PROVIDER = """mutation($id: Int!, $input: UpdateProviderInput!) {
  updateProvider(id: $id, input: $input) {
    id bookingRules { minimumNoticeMinutes bookingWindowDays bufferBeforeMinutes
      bufferAfterMinutes maxBookingsPerDay } } }"""
SEARCH = """query($providerId: Int) {
  searchAvailableSlots(providerId: $providerId) { nodes { id } } }"""


def hold_as_rest(hold: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": hold["id"],
        "available_slot_id": hold["availableSlotId"],
        "patient_id": hold["patientId"],
        "status": hold["status"].lower(),
        "expires_at": hold["expiresAt"],
        "created_at": hold["createdAt"],
        "updated_at": hold["updatedAt"],
        "resource_id": hold["resourceId"],
    }


def time_off_as_rest(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"],
        "provider_id": item["providerId"],
        "start_time": item["startTime"],
        "end_time": item["endTime"],
        "reason": item["reason"],
        "blocked_slot_ids": item["blockedSlotIds"],
        "booked_slot_ids": item["bookedSlotIds"],
        "created_at": item["createdAt"],
        "updated_at": item["updatedAt"],
    }


async def test_holds_and_group_bookings_match(client, auth, factory):
    rest_slot = (await factory.slot(capacity=2)).id
    gql_slot = (await factory.slot(start=future(72), capacity=2)).id
    patient = (await factory.patient()).id
    other = (await factory.patient("Sam", "Okafor")).id

    rest_hold = (await client.post(HOLDS, json=hold_body(rest_slot, patient), headers=auth)).json()
    created = await gql(
        client, CREATE_HOLD, {"input": {"availableSlotId": gql_slot, "patientId": patient}}, auth
    )
    gql_hold = created["data"]["createHold"]
    assert gql_hold["status"] == "HELD" and rest_hold["status"] == "held"
    assert set(hold_as_rest(gql_hold)) == set(rest_hold)
    got = await gql(client, GET_HOLD, {"id": rest_hold["id"]}, auth)
    assert hold_as_rest(got["data"]["hold"]) == rest_hold
    listed = await gql(client, LIST_HOLDS, {"filter": {"availableSlotId": rest_slot}}, auth)
    assert [hold_as_rest(node) for node in listed["data"]["holds"]["nodes"]] == [rest_hold]

    # The same refusals, in the same words.
    for slot_id, hold_id, patient_id in (
        (rest_slot, 999999, patient),
        (gql_slot, rest_hold["id"], patient),
        (rest_slot, rest_hold["id"], other),
    ):
        rest = await client.post(
            BOOKS, json=book_body(slot_id, patient_id, hold_id=hold_id), headers=auth
        )
        body = await gql(
            client,
            CREATE_BOOK,
            {"input": {"availableSlotId": slot_id, "patientId": patient_id, "holdId": hold_id}},
            auth,
        )
        assert_same_error(rest, body)

    rest_book = await client.post(
        BOOKS, json=book_body(rest_slot, patient, hold_id=rest_hold["id"]), headers=auth
    )
    gql_book = await gql(
        client,
        CREATE_BOOK,
        {"input": {"availableSlotId": gql_slot, "patientId": patient, "holdId": gql_hold["id"]}},
        auth,
    )
    assert rest_book.status_code == 201
    assert gql_book["data"]["createBook"]["status"] == "CONFIRMED"
    # A used hold: 409 on both faces; the same patient twice: 422 on both.
    rest = await client.post(
        BOOKS, json=book_body(rest_slot, patient, hold_id=rest_hold["id"]), headers=auth
    )
    body = await gql(
        client,
        CREATE_BOOK,
        {"input": {"availableSlotId": rest_slot, "patientId": patient, "holdId": rest_hold["id"]}},
        auth,
    )
    assert rest.status_code == 409
    assert_same_error(rest, body)
    rest = await client.post(BOOKS, json=book_body(rest_slot, patient), headers=auth)
    body = await gql(
        client, CREATE_BOOK, {"input": {"availableSlotId": rest_slot, "patientId": patient}}, auth
    )
    assert rest.status_code == 422
    assert_same_error(rest, body)
    rest = await client.delete(f"{HOLDS}/{rest_hold['id']}", headers=auth)
    body = await gql(client, RELEASE_HOLD, {"id": rest_hold["id"]}, auth)
    assert_same_error(rest, body)
    for slot_id in (rest_slot, gql_slot):
        slot = (await gql(client, SLOT, {"id": slot_id}, auth))["data"]["availableSlot"]
        rest_view = (await client.get(f"{SLOTS}/{slot_id}", headers=auth)).json()
        assert slot == {"available": True, "capacity": 2, "bookedCount": 1}
        assert (rest_view["available"], rest_view["capacity"], rest_view["booked_count"]) == (
            True,
            2,
            1,
        )


async def test_time_off_matches(client, auth, factory):
    provider = await factory.provider()
    provider_id = provider.id
    start = future(48)
    slot_id = (await factory.slot(provider, start=start)).id
    body = time_off_body(provider_id, start, start + timedelta(hours=2), "Vacation")
    rest = (await client.post(TIME_OFFS, json=body, headers=auth)).json()
    created = await gql(
        client,
        CREATE_TIME_OFF,
        {
            "input": {
                "providerId": provider_id,
                "startTime": iso(start + timedelta(minutes=30)),
                "endTime": iso(start + timedelta(hours=3)),
                "reason": "Vacation",
            }
        },
        auth,
    )
    graphql = time_off_as_rest(created["data"]["createTimeOff"])
    assert set(graphql) == set(rest)
    assert rest["blocked_slot_ids"] == graphql["blocked_slot_ids"] == [slot_id]
    got = await gql(client, GET_TIME_OFF, {"id": rest["id"]}, auth)
    assert time_off_as_rest(got["data"]["timeOff"]) == rest
    listed = await gql(client, LIST_TIME_OFFS, {"filter": {"providerId": provider_id}}, auth)
    rest_list = await client.get(TIME_OFFS, params={"provider_id": provider_id}, headers=auth)
    assert [time_off_as_rest(n) for n in listed["data"]["timeOffs"]["nodes"]] == rest_list.json()

    moved = {
        "available_slot": {"start_time": iso(start), "end_time": iso(start + timedelta(hours=1))}
    }
    bad = await client.post(
        TIME_OFFS, json=time_off_body(provider_id, start, start - timedelta(hours=1)), headers=auth
    )
    gql_bad = await gql(
        client,
        CREATE_TIME_OFF,
        {"input": {"providerId": provider_id, "startTime": iso(start), "endTime": iso(start)}},
        auth,
    )
    assert_same_error(bad, gql_bad)
    assert (await client.put(f"{SLOTS}/{slot_id}", json=moved, headers=auth)).status_code == 200

    await client.delete(f"{TIME_OFFS}/{rest['id']}", headers=auth)
    assert (await gql(client, SLOT, {"id": slot_id}, auth))["data"]["availableSlot"][
        "available"
    ] is False
    deleted = await gql(client, DELETE_TIME_OFF, {"id": graphql["id"]}, auth)
    assert deleted["data"]["deleteTimeOff"] == {"id": graphql["id"], "deleted": True}
    assert (await gql(client, SLOT, {"id": slot_id}, auth))["data"]["availableSlot"][
        "available"
    ] is True
    missing = await client.delete(f"{TIME_OFFS}/{rest['id']}", headers=auth)
    assert_same_error(missing, await gql(client, DELETE_TIME_OFF, {"id": rest["id"]}, auth))


async def test_booking_rules_set_in_graphql_apply_to_both_faces(client, auth, factory):
    provider = await factory.provider()
    provider_id = provider.id
    soon = (await factory.slot(provider, start=datetime.now(UTC) + timedelta(hours=1))).id
    later = (await factory.slot(provider, start=future(6))).id
    patient = (await factory.patient()).id
    rules = {"minimumNoticeMinutes": 120, "maxBookingsPerDay": 5}
    updated = await gql(
        client, UPDATE_PROVIDER, {"id": provider_id, "input": {"bookingRules": rules}}, auth
    )
    assert updated["data"]["updateProvider"]["bookingRules"] == {
        "minimumNoticeMinutes": 120,
        "bookingWindowDays": None,
        "bufferBeforeMinutes": None,
        "bufferAfterMinutes": None,
        "maxBookingsPerDay": 5,
    }
    searched = await gql(client, SEARCH, {"providerId": provider_id}, auth)
    rest_search = await client.get(
        f"{SLOTS}/search", params={"provider_id": provider_id}, headers=auth
    )
    assert [node["id"] for node in searched["data"]["searchAvailableSlots"]["nodes"]] == [later]
    assert [item["id"] for item in rest_search.json()] == [later]
    rest = await client.post(BOOKS, json=book_body(soon, patient), headers=auth)
    body = await gql(
        client, CREATE_BOOK, {"input": {"availableSlotId": soon, "patientId": patient}}, auth
    )
    assert rest.status_code == 422
    assert_same_error(rest, body)
    bad = await gql(
        client,
        UPDATE_PROVIDER,
        {"id": provider_id, "input": {"bookingRules": {"maxBookingsPerDay": 0}}},
        auth,
    )
    assert bad["errors"][0]["extensions"]["errors"] == {
        "max_bookings_per_day": ["must be greater than or equal to 1"]
    }
    cleared = await gql(
        client,
        UPDATE_PROVIDER,
        {"id": provider_id, "input": {"bookingRules": {"minimumNoticeMinutes": None}}},
        auth,
    )
    assert cleared["data"]["updateProvider"]["bookingRules"]["minimumNoticeMinutes"] is None
    overridden = await gql(
        client,
        CREATE_BOOK,
        {"input": {"availableSlotId": soon, "patientId": patient, "overrideRules": True}},
        auth,
    )
    assert overridden["data"]["createBook"]["status"] == "CONFIRMED"
