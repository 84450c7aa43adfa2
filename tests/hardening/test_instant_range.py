"""One range of days and instants (years 1900..2199) at every edge: nothing later overflows.

Each route that takes a day or an instant refuses one outside the range with its usual
error (422 ``is invalid``, GraphQL VALIDATION_FAILED or a scalar error, FHIR 400); and
the last instant of the range can be booked under a buffer rule without a 500.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.platform.timeutil import in_range, parse_date, parse_timestamp
from models.scheduling import people
from tests.bookings.helpers import book_body
from tests.factories import BOOKS, SLOTS
from tests.scheduling.helpers import HOLDS, TIME_OFFS

FAR = ("9999-12-31T22:00:00.000Z", "9999-12-31T23:30:00.000Z")
EARLY = ("1899-12-31T22:00:00.000Z", "1899-12-31T23:30:00.000Z")


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("1900-01-01T00:00:00Z", True),
        ("2199-12-31T23:59:59.999Z", True),
        ("2200-01-01T00:00:00Z", False),
        ("1899-12-31T23:59:59Z", False),
        ("1900-01-01T00:30:00+01:00", False),  # 1899 in UTC
        ("9999-12-31T23:59:59-01:00", False),  # past the end of the calendar in UTC
    ],
)
def test_the_one_range_of_instants(text: str, accepted: bool) -> None:
    assert (parse_timestamp(text) is not None) is accepted
    assert (parse_date(text[:10]) is not None) is (1900 <= int(text[:4]) <= 2199)


def test_in_range_wants_an_aware_instant() -> None:
    assert not in_range(datetime(2030, 1, 1))
    assert in_range(datetime(2030, 1, 1, tzinfo=UTC))


async def test_slots_outside_the_range_are_refused_on_every_write(client: Any, auth: Any, factory):
    provider = await factory.provider()
    for start, end in (FAR, EARLY):
        body = {"provider_id": provider.id, "start_time": start, "end_time": end}
        created = await client.post(SLOTS, json={"available_slot": body}, headers=auth)
        assert created.status_code == 422, created.text
        assert "is invalid" in created.json()["errors"]["start_time"]
        batch = await client.post(
            f"{SLOTS}/create_in_batch",
            json={"provider_id": provider.id, "slots": [{"start_time": start, "end_time": end}]},
            headers=auth,
        )
        assert batch.status_code < 500, batch.text
        assert batch.json().get("created", []) == []
    slot = await factory.slot(provider)
    moved = await client.put(
        f"{SLOTS}/{slot.id}", json={"available_slot": {"end_time": FAR[1]}}, headers=auth
    )
    assert moved.status_code == 422 and moved.json()["errors"]["end_time"] == ["is invalid"]
    listed = await client.get(SLOTS, params={"start_date": "1899-12-31"}, headers=auth)
    assert listed.status_code == 422
    assert listed.json()["errors"] == {"start_date": ["must be a day of the years 1900 to 2199"]}


async def test_series_end_dates_outside_the_range_are_refused(client: Any, auth: Any, factory):
    provider = await factory.provider()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    base = {
        "provider_id": provider.id,
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(hours=1)).isoformat(),
        "recurring": True,
    }
    for extra, field in (
        ({"recurrence_pattern": "weekly", "recurrence_end_date": "9999-12-31"}, None),
        ({"recurrence_pattern": "custom", "recurrence_rule": "FREQ=DAILY;UNTIL=99991231"}, None),
    ):
        response = await client.post(
            SLOTS, json={"available_slot": {**base, **extra}}, headers=auth
        )
        assert response.status_code == 422, response.text
        assert field is None or field in response.json()["errors"]


async def test_time_off_outside_the_range_is_refused(client: Any, auth: Any, factory):
    provider = await factory.provider()
    for start, end in (FAR, EARLY):
        body = {"time_off": {"provider_id": provider.id, "start_time": start, "end_time": end}}
        response = await client.post(TIME_OFFS, json=body, headers=auth)
        assert response.status_code == 422, response.text
        assert response.json()["errors"]["start_time"] == ["is invalid"]


async def test_graphql_instants_outside_the_range_are_refused(client: Any, auth: Any, factory):
    provider = await factory.provider()
    document = "mutation($input: CreateSlotInput!) { createSlot(input: $input) { slot { id } } }"
    for start, end in (FAR, EARLY):
        variables = {"input": {"providerId": provider.id, "startTime": start, "endTime": end}}
        response = await client.post(
            "/graphql", json={"query": document, "variables": variables}, headers=auth
        )
        assert response.status_code in (200, 400), response.text
        errors = response.json()["errors"]
        assert all(
            (error.get("extensions") or {}).get("code") != "INTERNAL_SERVER_ERROR"
            for error in errors
        )
        assert response.json().get("data") in (None, {"createSlot": None})


async def test_fhir_start_at_the_ends_of_the_calendar_is_a_400(client: Any, auth: Any):
    for value in ("ge9999-12-31", "le9999-12-31", "gt9999-12-31", "lt0001-01-01", "eq0001-01-01"):
        response = await client.get("/fhir/Slot", params={"start": value}, headers=auth)
        assert response.status_code == 400, (value, response.text)
        assert response.json()["resourceType"] == "OperationOutcome"


async def test_the_last_instant_of_the_range_books_under_a_buffer_rule(
    client: Any, auth: Any, factory, session
):
    provider = await factory.provider()
    await people.update_provider(
        session,
        provider.id,
        booking_rules={"buffer_before_minutes": 30, "buffer_after_minutes": 60},
    )
    start = datetime(2199, 12, 31, 23, 0, tzinfo=UTC)
    body = {
        "provider_id": provider.id,
        "start_time": start.isoformat(),
        "end_time": "2199-12-31T23:59:59.999Z",
    }
    created = await client.post(SLOTS, json={"available_slot": body}, headers=auth)
    assert created.status_code == 201, created.text
    slot_id = created.json()["id"]
    patient = (await factory.patient()).id
    held = await client.post(HOLDS, json={"hold": {"available_slot_id": slot_id}}, headers=auth)
    assert held.status_code == 201, held.text
    await client.delete(f"{HOLDS}/{held.json()['id']}", headers=auth)
    booked = await client.post(BOOKS, json=book_body(slot_id, patient), headers=auth)
    assert booked.status_code == 201, booked.text
