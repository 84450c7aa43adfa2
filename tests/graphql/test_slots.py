"""Available slots through GraphQL: every query and mutation, filters and cursors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from models.platform.entities import AvailableSlot
from tests.factories import future, iso
from tests.graphql.helpers import SLOT_FIELDS, extensions, gql, stored

CREATE = f"""
mutation Create($input: CreateAvailableSlotInput!) {{
  createAvailableSlot(input: $input) {{ {SLOT_FIELDS} }}
}}
"""
GET = f"query Get($id: Int!) {{ availableSlot(id: $id) {{ {SLOT_FIELDS} }} }}"
UPDATE = f"""
mutation Update($id: Int!, $input: UpdateAvailableSlotInput!) {{
  updateAvailableSlot(id: $id, input: $input) {{ {SLOT_FIELDS} }}
}}
"""
DELETE = "mutation Delete($id: Int!) { deleteAvailableSlot(id: $id) { id deleted } }"
LIST = """
query List($first: Int, $after: String, $filter: AvailableSlotFilter) {
  availableSlots(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id startTime provider { id } } }
    nodes { id }
  }
}
"""
SEARCH = """
query Search($providerId: Int, $date: Date, $duration: Int, $appointmentType: String,
             $first: Int, $after: String) {
  searchAvailableSlots(providerId: $providerId, date: $date, duration: $duration,
                       appointmentType: $appointmentType, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id durationMinutes appointmentType }
  }
}
"""


def ids(body: dict[str, Any], field: str = "availableSlots") -> list[int]:
    return [node["id"] for node in body["data"][field]["nodes"]]


async def test_create_returns_the_slot_and_stores_it(client, auth, factory, session):
    provider = await factory.provider()
    start = future(48)
    body = await gql(
        client,
        CREATE,
        {
            "input": {
                "providerId": provider.id,
                "startTime": iso(start),
                "endTime": iso(start + timedelta(minutes=90)),
                "appointmentType": "therapy",
            }
        },
        auth,
    )
    assert "errors" not in body, body
    slot = body["data"]["createAvailableSlot"]
    assert slot["providerId"] == provider.id
    assert slot["startTime"] == iso(start)
    assert slot["endTime"] == iso(start + timedelta(minutes=90))
    assert slot["durationMinutes"] == 90
    assert slot["appointmentType"] == "therapy"
    assert slot["available"] is True and slot["recurring"] is False
    assert slot["provider"] == {
        "id": provider.id,
        "firstName": "Jane",
        "lastName": "Smith",
        "timeZone": "UTC",
        "active": True,
    }
    row = await stored(session, AvailableSlot, slot["id"])
    assert row is not None
    assert (row.start_time, row.duration_minutes) == (start, 90)


async def test_create_reads_any_offset_as_an_instant(client, auth, factory):
    provider = await factory.provider()
    start = future(72)
    local = start.astimezone().isoformat()  # same instant, the machine's offset
    body = await gql(
        client,
        CREATE,
        {
            "input": {
                "providerId": provider.id,
                "startTime": local,
                "endTime": iso(start + timedelta(hours=1)),
            }
        },
        auth,
    )
    assert body["data"]["createAvailableSlot"]["startTime"] == iso(start)


async def test_get_one_slot(client, auth, factory):
    slot = await factory.slot(appointment_type="consultation")
    body = await gql(client, GET, {"id": slot.id}, auth)
    got = body["data"]["availableSlot"]
    assert got["id"] == slot.id
    assert got["appointmentType"] == "consultation"
    assert got["provider"]["id"] == slot.provider_id


async def test_update_changes_only_the_fields_given(client, auth, factory, session):
    slot = await factory.slot(appointment_type="therapy", minutes=60)
    new_end = slot.start_time + timedelta(minutes=45)
    body = await gql(client, UPDATE, {"id": slot.id, "input": {"endTime": iso(new_end)}}, auth)
    assert "errors" not in body, body
    updated = body["data"]["updateAvailableSlot"]
    assert updated["startTime"] == iso(slot.start_time)
    assert updated["endTime"] == iso(new_end)
    assert updated["durationMinutes"] == 45
    assert updated["appointmentType"] == "therapy"

    body = await gql(client, UPDATE, {"id": slot.id, "input": {"appointmentType": None}}, auth)
    assert body["data"]["updateAvailableSlot"]["appointmentType"] is None
    row = await stored(session, AvailableSlot, slot.id)
    assert row is not None
    assert (row.end_time, row.duration_minutes, row.appointment_type) == (
        new_end,
        45,
        None,
    )


async def test_update_with_an_explicit_null_time_is_blank(client, auth, factory, session):
    slot = await factory.slot()
    body = await gql(client, UPDATE, {"id": slot.id, "input": {"startTime": None}}, auth)
    assert extensions(body)["errors"] == {"start_time": ["can't be blank"]}
    row = await stored(session, AvailableSlot, slot.id)
    assert row is not None and row.start_time == slot.start_time


async def test_update_can_close_and_reopen_a_slot(client, auth, factory):
    slot = await factory.slot()
    closed = await gql(client, UPDATE, {"id": slot.id, "input": {"available": False}}, auth)
    assert closed["data"]["updateAvailableSlot"]["available"] is False
    reopened = await gql(client, UPDATE, {"id": slot.id, "input": {"available": True}}, auth)
    assert reopened["data"]["updateAvailableSlot"]["available"] is True


async def test_delete_removes_the_slot(client, auth, factory, db_count):
    slot_id = (await factory.slot()).id
    body = await gql(client, DELETE, {"id": slot_id}, auth)
    assert body["data"]["deleteAvailableSlot"] == {"id": slot_id, "deleted": True}
    assert await db_count("available_slots") == 0
    again = await gql(client, DELETE, {"id": slot_id}, auth)
    assert extensions(again)["code"] == "NOT_FOUND"


async def test_list_filters(client, auth, factory):
    jane = await factory.provider()
    john = await factory.provider("John", "Doe")
    day1 = future(24 * 3).replace(hour=9)
    day2 = day1 + timedelta(days=1)
    a = await factory.slot(jane, start=day1, appointment_type="therapy")
    b = await factory.slot(jane, start=day2, appointment_type="consultation")
    c = await factory.slot(john, start=day1 + timedelta(hours=2), available=False)

    async def listed(**filters: Any) -> list[int]:
        body = await gql(client, LIST, {"filter": filters}, auth)
        assert "errors" not in body, body
        return ids(body)

    assert await listed() == [a.id, c.id, b.id]
    assert await listed(providerId=jane.id) == [a.id, b.id]
    assert await listed(startDate=day2.date().isoformat()) == [b.id]
    assert await listed(endDate=day1.date().isoformat()) == [a.id, c.id]
    assert await listed(available=False) == [c.id]
    # A slot without a type is open to every type.
    assert await listed(appointmentType="therapy") == [a.id, c.id]
    assert await listed(providerId=john.id, available=True) == []


async def test_list_walks_every_page_without_gaps_or_duplicates(client, auth, factory):
    provider = await factory.provider()
    other = await factory.provider("John", "Doe")
    base = future(24 * 2)
    created = []
    for hour in range(7):
        created.append(await factory.slot(provider, start=base + timedelta(hours=hour)))
        # Same start time for another provider: the id breaks the tie.
        created.append(await factory.slot(other, start=base + timedelta(hours=hour)))
    expected = [slot.id for slot in sorted(created, key=lambda s: (s.start_time, s.id))]

    seen: list[int] = []
    after = None
    pages = 0
    while True:
        body = await gql(client, LIST, {"first": 3, "after": after}, auth)
        connection = body["data"]["availableSlots"]
        assert connection["totalCount"] == 14
        page_ids = [edge["node"]["id"] for edge in connection["edges"]]
        assert page_ids == [node["id"] for node in connection["nodes"]]
        assert connection["pageInfo"]["endCursor"] == connection["edges"][-1]["cursor"]
        seen += page_ids
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == expected
    assert pages == 5  # 3+3+3+3+2: the last full page already knows it is not the last

    # Exactly divisible: the final page says there is nothing more.
    body = await gql(client, LIST, {"first": 7}, auth)
    second = await gql(
        client,
        LIST,
        {"first": 7, "after": body["data"]["availableSlots"]["pageInfo"]["endCursor"]},
        auth,
    )
    assert second["data"]["availableSlots"]["pageInfo"]["hasNextPage"] is False
    assert ids(body) + ids(second) == expected


async def test_empty_list(client, auth):
    body = await gql(client, LIST, {}, auth)
    assert body["data"]["availableSlots"] == {
        "totalCount": 0,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "edges": [],
        "nodes": [],
    }


async def test_cursor_survives_rows_inserted_before_it(client, auth, factory):
    provider = await factory.provider()
    base = future(24 * 5)
    first_two = [await factory.slot(provider, start=base + timedelta(hours=h)) for h in (0, 1)]
    last = await factory.slot(provider, start=base + timedelta(hours=2))
    page = await gql(client, LIST, {"first": 2}, auth)
    assert ids(page) == [s.id for s in first_two]
    await factory.slot(provider, start=base - timedelta(hours=3))  # lands on an earlier page
    rest = await gql(
        client,
        LIST,
        {"first": 2, "after": page["data"]["availableSlots"]["pageInfo"]["endCursor"]},
        auth,
    )
    assert ids(rest) == [last.id]


async def test_search_finds_available_future_slots_long_enough(client, auth, factory, session):
    provider = await factory.provider()
    day = future(24 * 4).replace(hour=8)
    long = await factory.slot(provider, start=day, minutes=90, appointment_type="therapy")
    await factory.slot(provider, start=day + timedelta(hours=2), minutes=30)
    await factory.slot(provider, start=day + timedelta(hours=4), minutes=120, available=False)
    other_day = await factory.slot(provider, start=day + timedelta(days=1), minutes=60)

    body = await gql(
        client,
        SEARCH,
        {"providerId": provider.id, "date": day.date().isoformat(), "duration": 60},
        auth,
    )
    assert "errors" not in body, body
    assert ids(body, "searchAvailableSlots") == [long.id]
    assert body["data"]["searchAvailableSlots"]["nodes"][0]["durationMinutes"] == 90

    typed = await gql(client, SEARCH, {"appointmentType": "consultation"}, auth)
    # The therapy slot is excluded; untyped ones are open to consultations.
    assert long.id not in ids(typed, "searchAvailableSlots")
    assert other_day.id in ids(typed, "searchAvailableSlots")


async def test_search_pages_with_cursors(client, auth, factory):
    provider = await factory.provider()
    base = future(24 * 2)
    slots = [await factory.slot(provider, start=base + timedelta(hours=h)) for h in range(5)]
    seen: list[int] = []
    after = None
    while True:
        body = await gql(client, SEARCH, {"first": 2, "after": after}, auth)
        connection = body["data"]["searchAvailableSlots"]
        assert connection["totalCount"] == 5
        seen += [node["id"] for node in connection["nodes"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == [slot.id for slot in slots]


async def test_search_and_list_in_one_operation(client, auth, factory):
    """Root fields of one query share the request's session without clashing."""
    slot = await factory.slot()
    body = await gql(
        client,
        """query($id: Int!) {
          a: availableSlots { totalCount }
          b: searchAvailableSlots { totalCount }
          c: availableSlot(id: $id) { id }
          d: providers { totalCount }
          e: patients { totalCount }
        }""",
        {"id": slot.id},
        auth,
    )
    assert body == {
        "data": {
            "a": {"totalCount": 1},
            "b": {"totalCount": 1},
            "c": {"id": slot.id},
            "d": {"totalCount": 1},
            "e": {"totalCount": 0},
        }
    }


async def test_nothing_is_stored_when_creation_fails(client, auth, factory, session):
    provider = await factory.provider()
    start = future(-2)
    body = await gql(
        client,
        CREATE,
        {
            "input": {
                "providerId": provider.id,
                "startTime": iso(start),
                "endTime": iso(start - timedelta(hours=1)),
            }
        },
        auth,
    )
    assert extensions(body)["errors"] == {
        "start_time": ["must be in the future"],
        "end_time": ["must be after start time"],
    }
    assert (await session.execute(select(AvailableSlot.id))).first() is None
