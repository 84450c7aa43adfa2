"""Update and delete with a scope: single, following, series; booked occurrences stay."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from models.platform.entities import AvailableSlot
from tests.factories import SLOTS, Factory, future, iso
from tests.recurrence.conftest import fresh_slot, recurring_body, series_slots, stored_series

NEW_YORK = ZoneInfo("America/New_York")


async def weekly(
    client, auth, provider_id: int, start: datetime, weeks: int = 6, zone: str = "UTC"
) -> list[int]:
    end_date = (start.astimezone(ZoneInfo(zone)) + timedelta(weeks=weeks - 1)).date()
    response = await client.post(
        SLOTS,
        json=recurring_body(
            provider_id,
            start,
            recurrence_pattern="weekly",
            recurrence_end_date=end_date.isoformat(),
        ),
        headers=auth,
    )
    assert response.status_code == 201, response.text
    return [response.json()["id"]]


async def series_of(session, slot_id: int) -> list[AvailableSlot]:
    row = await fresh_slot(session, slot_id)
    assert row.series_id is not None
    return await series_slots(session, row.series_id)


async def test_following_moves_later_unbooked_occurrences_and_keeps_booked(
    client, auth, factory: Factory, session
):
    provider = await factory.provider(time_zone="America/New_York")
    start = future(24 * 2)
    first_id = (await weekly(client, auth, provider.id, start, zone="America/New_York"))[0]
    slots = await series_of(session, first_id)
    assert len(slots) == 6
    booked = slots[4]
    await factory.booking(booked)
    before = {slot.id: (slot.start_time, slot.end_time) for slot in slots}

    third = slots[2]
    new_start = third.start_time + timedelta(minutes=30)
    response = await client.put(
        f"{SLOTS}/{third.id}?scope=following",
        json={
            "available_slot": {
                "start_time": iso(new_start),
                "end_time": iso(new_start + timedelta(minutes=45)),
                "appointment_type": "consultation",
            }
        },
        headers=auth,
    )

    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["scope"] == "following" and reply["series_id"] == third.series_id
    assert reply["slot_ids"] == [slots[2].id, slots[3].id, slots[5].id]
    assert reply["updated_slots"] == 3
    assert reply["kept_slots"] == [
        {
            "id": booked.id,
            "start_time": iso(before[booked.id][0]),
            "end_time": iso(before[booked.id][1]),
            "errors": "Slot has an active booking",
        }
    ]
    assert reply["available_slot"]["id"] == third.id
    assert reply["available_slot"]["start_time"] == iso(new_start)

    after = {slot.id: slot for slot in await series_of(session, first_id)}
    for slot in slots[:2]:
        assert (after[slot.id].start_time, after[slot.id].end_time) == before[slot.id]
        assert after[slot.id].appointment_type == "therapy"
    assert (after[booked.id].start_time, after[booked.id].end_time) == before[booked.id]
    for ident in reply["slot_ids"]:
        moved = after[ident]
        assert moved.start_time == before[ident][0] + timedelta(minutes=30)
        assert moved.start_time.astimezone(NEW_YORK).minute == (start.minute + 30) % 60
        assert moved.duration_minutes == 45 and moved.appointment_type == "consultation"
    series = await stored_series(session, third.series_id or 0)
    assert series.duration_minutes == 45 and series.appointment_type == "consultation"


async def test_series_scope_changes_every_future_occurrence(client, auth, factory, session):
    provider = await factory.provider()
    start = future(24 * 2)
    first_id = (await weekly(client, auth, provider.id, start, weeks=4))[0]
    slots = await series_of(session, first_id)

    response = await client.put(
        f"{SLOTS}/{slots[2].id}?scope=series",
        json={"available_slot": {"available": False}},
        headers=auth,
    )

    assert response.status_code == 200, response.text
    assert response.json()["slot_ids"] == [slot.id for slot in slots]
    assert all(not slot.available for slot in await series_of(session, first_id))


async def test_scoped_move_into_another_slot_is_409_and_changes_nothing(
    client, auth, factory: Factory, session
):
    provider = await factory.provider()
    start = future(24 * 2)
    first_id = (await weekly(client, auth, provider.id, start, weeks=4))[0]
    slots = await series_of(session, first_id)
    blocker = await factory.slot(provider, start=slots[3].start_time + timedelta(hours=2))
    before = [(slot.id, slot.start_time) for slot in slots]

    response = await client.put(
        f"{SLOTS}/{slots[0].id}?scope=series",
        json={
            "available_slot": {
                "start_time": iso(slots[0].start_time + timedelta(hours=2)),
                "end_time": iso(slots[0].end_time + timedelta(hours=2)),
            }
        },
        headers=auth,
    )

    assert response.status_code == 409
    assert response.json()["conflicts"][0]["id"] == blocker.id
    assert [(slot.id, slot.start_time) for slot in await series_of(session, first_id)] == before


async def test_scoped_update_refuses_single_slot_fields(client, auth, factory, session):
    provider = await factory.provider()
    first_id = (await weekly(client, auth, provider.id, future(24 * 2), weeks=2))[0]
    response = await client.put(
        f"{SLOTS}/{first_id}?scope=series",
        json={"available_slot": {"provider_id": provider.id, "recurrence_pattern": "daily"}},
        headers=auth,
    )
    assert response.status_code == 422
    message = "can't be changed for more than one slot; use scope single"
    assert response.json() == {
        "errors": {"provider_id": [message], "recurrence_pattern": [message]}
    }
    bad_scope = await client.put(
        f"{SLOTS}/{first_id}?scope=everything", json={"available_slot": {}}, headers=auth
    )
    assert bad_scope.status_code == 422
    assert bad_scope.json() == {"errors": {"scope": ["is not included in the list"]}}


async def test_single_scope_is_the_default(client, auth, factory, session):
    provider = await factory.provider()
    first_id = (await weekly(client, auth, provider.id, future(24 * 2), weeks=3))[0]
    slots = await series_of(session, first_id)
    response = await client.put(
        f"{SLOTS}/{slots[1].id}",
        json={"available_slot": {"appointment_type": "assessment"}},
        headers=auth,
    )
    assert response.status_code == 200
    assert response.json()["appointment_type"] == "assessment"
    assert "scope" not in response.json()
    types = [slot.appointment_type for slot in await series_of(session, first_id)]
    assert types == ["therapy", "assessment", "therapy"]
    deleted = await client.delete(f"{SLOTS}/{slots[2].id}", headers=auth)
    assert deleted.status_code == 204
    assert len(await series_of(session, first_id)) == 2


async def test_delete_following_and_series_keep_booked_and_stop_the_series(
    client, auth, factory: Factory, session, db_count
):
    provider = await factory.provider()
    first_id = (await weekly(client, auth, provider.id, future(24 * 2), weeks=6))[0]
    slots = await series_of(session, first_id)
    series_id = slots[0].series_id
    await factory.booking(slots[4])

    response = await client.delete(f"{SLOTS}/{slots[3].id}?scope=following", headers=auth)

    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply == {
        "scope": "following",
        "series_id": series_id,
        "deleted_slots": 2,
        "slot_ids": [slots[3].id, slots[5].id],
        "kept_slots": [
            {
                "id": slots[4].id,
                "start_time": iso(slots[4].start_time),
                "end_time": iso(slots[4].end_time),
                "errors": "Slot has an active booking",
            }
        ],
    }
    remaining = [slot.id for slot in await series_of(session, first_id)]
    assert remaining == [slots[0].id, slots[1].id, slots[2].id, slots[4].id]
    assert (await stored_series(session, series_id or 0)).exhausted

    everything = await client.delete(f"{SLOTS}/{slots[1].id}?scope=series", headers=auth)
    assert everything.status_code == 200
    assert everything.json()["slot_ids"] == [slots[0].id, slots[1].id, slots[2].id]
    assert [kept["id"] for kept in everything.json()["kept_slots"]] == [slots[4].id]
    assert await db_count("available_slots") == 1


async def test_scope_on_a_plain_slot_is_that_slot(client, auth, factory: Factory, db_count):
    provider = await factory.provider()
    plain = await factory.slot(provider, start=future(30))
    booked = await factory.slot(provider, start=future(40))
    plain_id, booked_id = plain.id, booked.id
    await factory.booking(booked)

    kept = await client.delete(f"{SLOTS}/{booked_id}?scope=series", headers=auth)
    assert kept.status_code == 200
    assert kept.json()["series_id"] is None and kept.json()["deleted_slots"] == 0
    assert [item["id"] for item in kept.json()["kept_slots"]] == [booked_id]
    gone = await client.delete(f"{SLOTS}/{plain_id}?scope=following", headers=auth)
    assert gone.json()["slot_ids"] == [plain_id]
    assert await db_count("available_slots") == 1
    missing = await client.delete(f"{SLOTS}/{plain_id}?scope=series", headers=auth)
    assert missing.status_code == 404


async def test_shifting_a_series_onto_its_own_next_occurrences(client, auth, factory, session):
    # Each occurrence moves to where the next one was: the rows are moved in an order that
    # never overlaps mid-way (PostgreSQL checks its constraint statement by statement).
    provider = await factory.provider()
    start = future(24 * 2)
    end_date = (start + timedelta(days=3)).date().isoformat()
    created = await client.post(
        SLOTS,
        json=recurring_body(
            provider.id, start, recurrence_pattern="daily", recurrence_end_date=end_date
        ),
        headers=auth,
    )
    slots = await series_of(session, created.json()["id"])
    assert len(slots) == 4
    for shift in (timedelta(days=1), timedelta(days=-1)):
        anchor = (await series_of(session, slots[0].id))[0]
        response = await client.put(
            f"{SLOTS}/{anchor.id}?scope=series",
            json={
                "available_slot": {
                    "start_time": iso(anchor.start_time + shift),
                    "end_time": iso(anchor.end_time + shift),
                }
            },
            headers=auth,
        )
        assert response.status_code == 200, response.text
    final = await series_of(session, slots[0].id)
    assert [slot.start_time for slot in final] == [slot.start_time for slot in slots]
    series = await stored_series(session, slots[0].series_id or 0)
    assert series.dtstart_local == start.replace(tzinfo=None)
