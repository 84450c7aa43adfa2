"""Caps beyond a day: bookings per week (from Monday) and per calendar month, in the
provider's time zone, on weeks that span two months and on DST weeks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from models.scheduling import people
from tests.bookings.helpers import book_body
from tests.factories import BOOKS, SLOTS
from tests.graphql.helpers import extensions, gql

NEW_YORK = ZoneInfo("America/New_York")


async def _book(client, auth, slot_id: int, patient_id: int) -> Any:
    return await client.post(BOOKS, json=book_body(slot_id, patient_id), headers=auth)


async def _search(client, auth, provider_id: int, day: str) -> list[int]:
    response = await client.get(
        f"{SLOTS}/search", params={"provider_id": provider_id, "date": day}, headers=auth
    )
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


def _refusal(limit: int, period: str) -> dict[str, Any]:
    return {
        "errors": {"available_slot_id": [f"exceeds the limit of {limit} bookings per {period}"]}
    }


async def test_a_week_spanning_two_months_counts_as_one_week(client, auth, factory, session):
    provider = await factory.provider(time_zone="America/New_York")
    provider_id = provider.id
    # Monday 29 March to Sunday 4 April 2027.
    days = [(2027, 3, 29), (2027, 3, 31), (2027, 4, 2), (2027, 4, 4), (2027, 4, 5)]
    slots = [
        (await factory.slot(provider, start=datetime(*day, 10, tzinfo=NEW_YORK))).id for day in days
    ]
    patients = [(await factory.patient(f"P{i}", "Week")).id for i in range(5)]
    await people.update_provider(session, provider_id, booking_rules={"max_bookings_per_week": 2})

    assert (await _book(client, auth, slots[0], patients[0])).status_code == 201
    assert (await _book(client, auth, slots[2], patients[1])).status_code == 201
    refused = await _book(client, auth, slots[3], patients[2])
    assert refused.status_code == 422
    assert refused.json() == _refusal(2, "week")
    assert await _search(client, auth, provider_id, "2027-04-04") == []
    assert await _search(client, auth, provider_id, "2027-03-31") == []
    # Monday 5 April starts a new week.
    assert await _search(client, auth, provider_id, "2027-04-05") == [slots[4]]
    assert (await _book(client, auth, slots[4], patients[3])).status_code == 201

    # A cancelled booking does not count.
    booked = await client.get(BOOKS, params={"provider_id": provider_id}, headers=auth)
    first = next(item for item in booked.json() if item["available_slot_id"] == slots[0])
    cancelled = await client.put(
        f"{BOOKS}/{first['id']}", json={"book": {"status": "cancelled"}}, headers=auth
    )
    assert cancelled.status_code == 200, cancelled.text
    assert await _search(client, auth, provider_id, "2027-04-04") == [slots[3]]
    assert (await _book(client, auth, slots[3], patients[2])).status_code == 201


async def test_a_dst_week_is_monday_to_sunday_in_local_time(client, auth, factory, session):
    provider = await factory.provider(time_zone="America/New_York")
    provider_id = provider.id
    # Clocks go forward on Sunday 14 March 2027. Sunday 23:00 local is Monday in UTC, but
    # still the week of Monday 8 March; Monday 15 March 00:30 local is the next week.
    monday = datetime(2027, 3, 8, 9, tzinfo=NEW_YORK)
    sunday_late = datetime(2027, 3, 14, 23, tzinfo=NEW_YORK)
    next_monday = datetime(2027, 3, 15, 0, 30, tzinfo=NEW_YORK)
    assert sunday_late.astimezone(UTC).date().isoformat() == "2027-03-15"
    first = (await factory.slot(provider, start=monday)).id
    late = (await factory.slot(provider, start=sunday_late, minutes=30)).id
    following = (await factory.slot(provider, start=next_monday, minutes=30)).id
    patients = [(await factory.patient(f"P{i}", "Dst")).id for i in range(3)]
    await people.update_provider(session, provider_id, booking_rules={"max_bookings_per_week": 1})

    assert (await _book(client, auth, first, patients[0])).status_code == 201
    refused = await _book(client, auth, late, patients[1])
    assert refused.json() == _refusal(1, "week")
    assert (await _book(client, auth, following, patients[1])).status_code == 201


async def test_monthly_cap_in_the_providers_zone(client, auth, factory, session):
    provider = await factory.provider(time_zone="America/New_York")
    provider_id = provider.id
    # 31 March 2027 22:00 local is already April in UTC: it counts in March.
    march = datetime(2027, 3, 2, 10, tzinfo=NEW_YORK)
    march_end = datetime(2027, 3, 31, 22, tzinfo=NEW_YORK)
    april = datetime(2027, 4, 1, 9, tzinfo=NEW_YORK)
    slots = [
        (await factory.slot(provider, start=start, capacity=2)).id
        for start in (march, march_end, april)
    ]
    patients = [(await factory.patient(f"P{i}", "Month")).id for i in range(4)]
    await people.update_provider(session, provider_id, booking_rules={"max_bookings_per_month": 2})
    # Seats count: a group slot's two bookings fill March.
    assert (await _book(client, auth, slots[0], patients[0])).status_code == 201
    assert (await _book(client, auth, slots[0], patients[1])).status_code == 201
    assert (await _book(client, auth, slots[1], patients[2])).json() == _refusal(2, "month")
    assert await _search(client, auth, provider_id, "2027-03-31") == []
    assert await _search(client, auth, provider_id, "2027-04-01") == [slots[2]]
    assert (await _book(client, auth, slots[2], patients[2])).status_code == 201


async def test_caps_are_set_and_read_through_graphql(client, auth, factory):
    provider = await factory.provider()
    body = await gql(
        client,
        """mutation($id: Int!) { updateProvider(id: $id, input: {bookingRules: {
            maxBookingsPerWeek: 10, maxBookingsPerMonth: 30}}) {
            bookingRules { maxBookingsPerDay maxBookingsPerWeek maxBookingsPerMonth } } }""",
        {"id": provider.id},
        auth,
    )
    assert body["data"]["updateProvider"]["bookingRules"] == {
        "maxBookingsPerDay": None,
        "maxBookingsPerWeek": 10,
        "maxBookingsPerMonth": 30,
    }
    bad = await gql(
        client,
        """mutation($id: Int!) { updateProvider(id: $id, input: {bookingRules: {
            maxBookingsPerWeek: 0}}) { id } }""",
        {"id": provider.id},
        auth,
    )
    assert extensions(bad)["errors"] == {
        "max_bookings_per_week": ["must be greater than or equal to 1"]
    }
