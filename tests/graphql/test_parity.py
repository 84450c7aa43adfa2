"""The same scenario through REST and GraphQL gives the same data and the same errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.factories import SLOTS, future, iso
from tests.graphql.helpers import SLOT_FIELDS, gql, only_error

CREATE = f"""mutation($input: CreateAvailableSlotInput!) {{
  createAvailableSlot(input: $input) {{ {SLOT_FIELDS} }} }}"""
GET = f"query($id: Int!) {{ availableSlot(id: $id) {{ {SLOT_FIELDS} }} }}"
UPDATE = f"""mutation($id: Int!, $input: UpdateAvailableSlotInput!) {{
  updateAvailableSlot(id: $id, input: $input) {{ {SLOT_FIELDS} }} }}"""
DELETE = "mutation($id: Int!) { deleteAvailableSlot(id: $id) { id deleted } }"
LIST = f"""query($first: Int, $filter: AvailableSlotFilter) {{
  availableSlots(first: $first, filter: $filter) {{ totalCount nodes {{ {SLOT_FIELDS} }} }} }}"""
SEARCH = f"""query($providerId: Int, $date: Date, $duration: Int) {{
  searchAvailableSlots(providerId: $providerId, date: $date, duration: $duration) {{
    totalCount nodes {{ {SLOT_FIELDS} }} }} }}"""

REST_TO_GRAPHQL = {
    "provider_id": "providerId",
    "start_time": "startTime",
    "end_time": "endTime",
    "appointment_type": "appointmentType",
    "available": "available",
    "recurring": "recurring",
    "recurrence_pattern": "recurrencePattern",
    "recurrence_rule": "recurrenceRule",
    "recurrence_end_date": "recurrenceEndDate",
}


def as_rest(slot: dict[str, Any]) -> dict[str, Any]:
    """A GraphQL slot in the documented REST shape, to compare with a REST body."""
    return {
        "id": slot["id"],
        "provider_id": slot["providerId"],
        "start_time": slot["startTime"],
        "end_time": slot["endTime"],
        "appointment_type": slot["appointmentType"],
        "available": slot["available"],
        "recurring": slot["recurring"],
        "recurrence_pattern": (slot["recurrencePattern"] or "").lower() or None,
        "created_at": slot["createdAt"],
        "updated_at": slot["updatedAt"],
        "provider": {
            "id": slot["provider"]["id"],
            "first_name": slot["provider"]["firstName"],
            "last_name": slot["provider"]["lastName"],
        },
        "capacity": slot["capacity"],
        "booked_count": slot["bookedCount"],
        "resource_kind": slot["resourceKind"],
        "resource_id": slot["resourceId"],
    }


def as_graphql_input(fields: dict[str, Any]) -> dict[str, Any]:
    """REST fields as GraphQL input: the recurrence pattern is an enum there."""
    return {
        REST_TO_GRAPHQL[name]: value.upper() if name == "recurrence_pattern" and value else value
        for name, value in fields.items()
    }


def assert_same_error(rest: httpx.Response, body: dict[str, Any]) -> None:
    """REST status == extensions.status and REST body == errors (+ extra keys)."""
    extensions = only_error(body)["extensions"]
    assert rest.status_code == extensions["status"], (rest.text, extensions)
    expected = {key: value for key, value in extensions.items() if key not in ("code", "status")}
    assert rest.json() == expected


class Faces:
    def __init__(self, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
        self.client, self.auth = client, auth

    async def rest_create(self, fields: dict[str, Any]) -> httpx.Response:
        return await self.client.post(SLOTS, json={"available_slot": fields}, headers=self.auth)

    async def gql_create(self, fields: dict[str, Any]) -> dict[str, Any]:
        return await gql(self.client, CREATE, {"input": as_graphql_input(fields)}, self.auth)

    async def rest_update(self, slot_id: int, fields: dict[str, Any]) -> httpx.Response:
        return await self.client.put(
            f"{SLOTS}/{slot_id}", json={"available_slot": fields}, headers=self.auth
        )

    async def gql_update(self, slot_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        variables = {"id": slot_id, "input": as_graphql_input(fields)}
        return await gql(self.client, UPDATE, variables, self.auth)


@pytest.fixture
def faces(client: httpx.AsyncClient, auth: dict[str, str]) -> Faces:
    return Faces(client, auth)


async def test_the_slot_lifecycle_matches(client, auth, factory, faces):
    provider = await factory.provider()
    start = future(48)

    def fields(offset_hours: int) -> dict[str, Any]:
        begin = start + timedelta(hours=offset_hours)
        return {
            "provider_id": provider.id,
            "start_time": iso(begin),
            "end_time": iso(begin + timedelta(hours=1)),
            "appointment_type": "therapy",
        }

    # Create through each face; each reads back identically through the other.
    rest_created = await faces.rest_create(fields(0))
    assert rest_created.status_code == 201
    gql_created = (await faces.gql_create(fields(2)))["data"]["createAvailableSlot"]
    rest_slot = rest_created.json()
    gql_slot = as_rest(gql_created)
    assert {
        k: v
        for k, v in rest_slot.items()
        if k not in ("id", "start_time", "end_time", "created_at", "updated_at")
    } == {
        k: v
        for k, v in gql_slot.items()
        if k not in ("id", "start_time", "end_time", "created_at", "updated_at")
    }
    assert gql_slot["start_time"] == fields(2)["start_time"]

    got = await gql(client, GET, {"id": rest_slot["id"]}, auth)
    assert as_rest(got["data"]["availableSlot"]) == rest_slot
    rest_got = await client.get(f"{SLOTS}/{gql_slot['id']}", headers=auth)
    assert rest_got.json() == gql_slot

    # Lists with the same filters: same slots, same order, same total.
    day = start.date().isoformat()
    rest_list = await client.get(
        SLOTS,
        params={"provider_id": provider.id, "start_date": day, "end_date": day, "page_size": 10},
        headers=auth,
    )
    gql_list = await gql(
        client,
        LIST,
        {"first": 10, "filter": {"providerId": provider.id, "startDate": day, "endDate": day}},
        auth,
    )
    connection = gql_list["data"]["availableSlots"]
    assert [as_rest(node) for node in connection["nodes"]] == rest_list.json()
    assert connection["totalCount"] == int(rest_list.headers["X-Total-Count"])
    rest_search = await client.get(
        f"{SLOTS}/search", params={"provider_id": provider.id, "duration": 60}, headers=auth
    )
    gql_search = await gql(client, SEARCH, {"providerId": provider.id, "duration": 60}, auth)
    assert [as_rest(n) for n in gql_search["data"]["searchAvailableSlots"]["nodes"]] == (
        rest_search.json()
    )

    # The same partial update through each face.
    change = {"appointment_type": "consultation", "end_time": iso(start + timedelta(minutes=30))}
    rest_updated = await faces.rest_update(rest_slot["id"], change)
    assert rest_updated.status_code == 200
    change["end_time"] = iso(start + timedelta(hours=2, minutes=30))
    gql_updated = as_rest(
        (await faces.gql_update(gql_slot["id"], change))["data"]["updateAvailableSlot"]
    )
    assert (
        rest_updated.json()["appointment_type"] == gql_updated["appointment_type"] == "consultation"
    )
    assert rest_updated.json()["end_time"] == iso(start + timedelta(minutes=30))
    assert gql_updated["end_time"] == change["end_time"]
    assert gql_updated["start_time"] == gql_slot["start_time"]

    # The same overlap, refused the same way with the same clashes.
    clash = fields(0) | {"start_time": iso(start + timedelta(minutes=15))}
    assert_same_error(await faces.rest_create(clash), await faces.gql_create(clash))
    clash_update = {"start_time": iso(start + timedelta(minutes=10))}
    assert_same_error(
        await faces.rest_update(gql_slot["id"], clash_update),
        await faces.gql_update(gql_slot["id"], clash_update),
    )

    # Delete through each face; then both say Not found the same way.
    rest_deleted = await client.delete(f"{SLOTS}/{rest_slot['id']}", headers=auth)
    assert rest_deleted.status_code == 204
    gql_deleted = await gql(client, DELETE, {"id": gql_slot["id"]}, auth)
    assert gql_deleted["data"]["deleteAvailableSlot"] == {"id": gql_slot["id"], "deleted": True}
    for slot_id in (rest_slot["id"], gql_slot["id"]):
        assert_same_error(
            await client.get(f"{SLOTS}/{slot_id}", headers=auth),
            await gql(client, GET, {"id": slot_id}, auth),
        )
        assert_same_error(
            await client.delete(f"{SLOTS}/{slot_id}", headers=auth),
            await gql(client, DELETE, {"id": slot_id}, auth),
        )


@pytest.mark.parametrize(
    "bad",
    [
        {"start_time": -2},  # in the past
        {"end_time": -1},  # before the start
        {"appointment_type": "yoga"},
        {"provider_id": 424242},
        {"recurring": True},
        {"recurring": True, "recurrence_pattern": "custom"},
        {"recurring": True, "recurrence_pattern": "weekly", "recurrence_end_date": "2001-01-01"},
        {"start_time": -2, "end_time": -3, "appointment_type": "yoga", "provider_id": 424242},
    ],
)
async def test_create_validation_errors_match(factory, faces, db_count, bad):
    provider = await factory.provider()
    start = future(24)
    fields: dict[str, Any] = {
        "provider_id": provider.id,
        "start_time": iso(start),
        "end_time": iso(start + timedelta(hours=1)),
    }
    for name, value in bad.items():
        if name in ("start_time", "end_time"):
            fields[name] = iso(future(value))
        else:
            fields[name] = value
    rest = await faces.rest_create(fields)
    assert rest.status_code == 422
    assert_same_error(rest, await faces.gql_create(fields))
    assert await db_count("available_slots") == 0


@pytest.mark.parametrize(
    "change",
    [
        {"start_time": None},
        {"end_time": None},
        {"appointment_type": "yoga"},
        {"provider_id": 424242},
        {"recurring": True},
        {"available": None},
    ],
)
async def test_update_validation_errors_match(factory, faces, session, change):
    slot = await factory.slot()
    slot_id = slot.id
    rest = await faces.rest_update(slot_id, change)
    assert rest.status_code == 422, rest.text
    assert_same_error(rest, await faces.gql_update(slot_id, change))


@pytest.mark.parametrize(
    ("params", "gql_filter"),
    [
        # (A malformed day or one outside the years served is the Date scalar's error in
        # GraphQL, before any field is known: test_errors and the test below.)
        (
            {"start_date": "2030-01-05", "end_date": "2030-01-01"},
            {"startDate": "2030-01-05", "endDate": "2030-01-01"},
        ),
        (
            {"start_date": "2030-01-01", "end_date": "2031-06-01"},
            {"startDate": "2030-01-01", "endDate": "2031-06-01"},
        ),
    ],
)
async def test_list_filter_errors_match(client, auth, params, gql_filter):
    rest = await client.get(SLOTS, params=params, headers=auth)
    assert_same_error(rest, await gql(client, LIST, {"filter": gql_filter}, auth))


async def test_days_outside_the_years_served_are_refused_alike(client, auth):
    """Both faces refuse with the same message; GraphQL's Date scalar names no field."""
    message = ["must be a day of the years 1900 to 2199"]
    for path, params, gql_query, variables in (
        (f"{SLOTS}/search", {"date": "0001-01-01"}, SEARCH, {"date": "0001-01-01"}),
        (SLOTS, {"start_date": "0001-01-01"}, LIST, {"filter": {"startDate": "0001-01-01"}}),
        (SLOTS, {"end_date": "9999-12-31"}, LIST, {"filter": {"endDate": "9999-12-31"}}),
    ):
        rest = await client.get(path, params=params, headers=auth)
        assert rest.status_code == 422
        assert list(rest.json()["errors"].values()) == [message]
        extensions = only_error(await gql(client, gql_query, variables, auth))["extensions"]
        assert (extensions["status"], extensions["errors"]) == (422, {"date": message})


async def test_auth_errors_match(client, factory):
    provider_token = await factory.token(role="provider")
    for headers in ({}, {"X-User-Token": "nope"}, {"X-User-Token": provider_token}):
        assert_same_error(
            await client.get(SLOTS, headers=headers),
            await gql(client, LIST, {}, headers),
        )
