"""An appointment type's own cutoffs: set, they apply to bookings of the type instead of
the provider's (null keeps the provider's), on both faces, counted in real minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from models.booking.bookings import RescheduleInput, reschedule_booking
from models.platform.entities import Provider
from models.platform.errors import ValidationFailed
from models.scheduling import appointment_types
from tests.bookings.helpers import book_body, stored_booking
from tests.factories import BASE, BOOKS, future
from tests.graphql.helpers import gql

TYPES = f"{BASE}/appointment_types"
CUTOFF_FIELDS = "key cancellationCutoffMinutes rescheduleCutoffMinutes"
GQL_CANCEL = """
mutation($id: Int!) { cancelBook(id: $id) { id status } }"""
GQL_RESCHEDULE = """
mutation($id: Int!, $slot: Int!) {
  rescheduleBook(id: $id, input: {availableSlotId: $slot}) { id availableSlotId }
}"""


async def _rules(session: Any, provider_id: int, **rules: Any) -> None:
    await session.execute(update(Provider).where(Provider.id == provider_id).values(**rules))
    await session.commit()


async def _book(client: Any, auth: Any, slot_id: int, patient_id: int) -> int:
    response = await client.post(BOOKS, json=book_body(slot_id, patient_id), headers=auth)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_types_carry_cutoffs_on_both_faces_and_refuse_bad_ones(client, auth, db_count):
    created = await client.post(
        TYPES,
        json={
            "appointment_type": {
                "key": "intake",
                "name": "Intake",
                "duration_minutes": 50,
                "cancellation_cutoff_minutes": 1440,
            }
        },
        headers=auth,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["cancellation_cutoff_minutes"] == 1440
    assert body["reschedule_cutoff_minutes"] is None

    changed = await gql(
        client,
        f"""mutation($id: Int!) {{ updateAppointmentType(id: $id, input:
            {{cancellationCutoffMinutes: null, rescheduleCutoffMinutes: 720}})
            {{ {CUTOFF_FIELDS} }} }}""",
        {"id": body["id"]},
        auth,
    )
    assert changed["data"]["updateAppointmentType"] == {
        "key": "intake",
        "cancellationCutoffMinutes": None,
        "rescheduleCutoffMinutes": 720,
    }
    read = (await client.get(f"{TYPES}/{body['id']}", headers=auth)).json()
    assert (read["cancellation_cutoff_minutes"], read["reschedule_cutoff_minutes"]) == (None, 720)
    listed = await gql(client, f"{{ appointmentTypes {{ {CUTOFF_FIELDS} }} }}", None, auth)
    assert {
        "key": "intake",
        "cancellationCutoffMinutes": None,
        "rescheduleCutoffMinutes": 720,
    } in listed["data"]["appointmentTypes"]
    made = await gql(
        client,
        f"""mutation {{ createAppointmentType(input: {{key: "quick", name: "Quick",
            durationMinutes: 15, rescheduleCutoffMinutes: 0}}) {{ {CUTOFF_FIELDS} }} }}""",
        None,
        auth,
    )
    assert made["data"]["createAppointmentType"]["rescheduleCutoffMinutes"] == 0

    before = await db_count("appointment_types")
    for value, message in (
        (-1, "must be greater than or equal to 0"),
        (525_601, "must be less than or equal to 525600"),
        ("60", "is invalid"),
    ):
        refused = await client.put(
            f"{TYPES}/{body['id']}",
            json={"appointment_type": {"reschedule_cutoff_minutes": value}},
            headers=auth,
        )
        assert refused.status_code == 422
        assert refused.json() == {"errors": {"reschedule_cutoff_minutes": [message]}}
    assert await db_count("appointment_types") == before
    read = (await client.get(f"{TYPES}/{body['id']}", headers=auth)).json()
    assert read["reschedule_cutoff_minutes"] == 720


async def test_a_types_cutoffs_override_the_providers(client, auth, factory, session):
    await appointment_types.create_type(
        session,
        {
            "key": "intake",
            "name": "Intake",
            "duration_minutes": 50,
            "cancellation_cutoff_minutes": 0,
            "reschedule_cutoff_minutes": 600,
        },
    )
    provider = await factory.provider()
    await _rules(session, provider.id, cancellation_cutoff_minutes=240)
    typed = await factory.slot(provider, start=future(2), appointment_type="intake")
    typed_too = await factory.slot(provider, start=future(3), appointment_type="intake")
    plain = await factory.slot(provider, start=future(4), appointment_type="therapy")
    target = await factory.slot(provider, start=future(48))
    typed_id = await _book(client, auth, typed.id, (await factory.patient("A", "A")).id)
    moving_id = await _book(client, auth, typed_too.id, (await factory.patient("B", "B")).id)
    plain_id = await _book(client, auth, plain.id, (await factory.patient("C", "C")).id)

    # The provider's 240 minutes hold for the other type; the intake's 0 lets it go.
    refused = await client.put(
        f"{BOOKS}/{plain_id}", json={"book": {"status": "cancelled"}}, headers=auth
    )
    assert refused.json() == {
        "errors": {"status": ["is within the cancellation cutoff of 240 minutes"]}
    }
    cancelled = await gql(client, GQL_CANCEL, {"id": typed_id}, auth)
    assert cancelled["data"]["cancelBook"]["status"].lower() == "cancelled"

    # The provider sets no reschedule cutoff; the intake's 600 minutes refuse the move.
    message = {"available_slot_id": ["is within the reschedule cutoff of 600 minutes"]}
    rest = await client.post(
        f"{BOOKS}/{moving_id}/reschedule",
        json={"book": {"available_slot_id": target.id}},
        headers=auth,
    )
    assert rest.status_code == 422 and rest.json() == {"errors": message}
    graph = await gql(client, GQL_RESCHEDULE, {"id": moving_id, "slot": target.id}, auth)
    assert graph["errors"][0]["extensions"]["errors"] == message
    assert (await stored_booking(session, moving_id)).available_slot_id == typed_too.id
    moved_plain = await client.post(
        f"{BOOKS}/{plain_id}/reschedule",
        json={"book": {"available_slot_id": target.id}},
        headers=auth,
    )
    assert moved_plain.status_code == 200, moved_plain.text

    # Back to null: the provider's (none) applies again.
    kind = await appointment_types.get_type_by_key(session, "intake")
    await appointment_types.update_type(session, kind.id, {"reschedule_cutoff_minutes": None})
    other = await factory.slot(provider, start=future(50))
    moved = await client.post(
        f"{BOOKS}/{moving_id}/reschedule",
        json={"book": {"available_slot_id": other.id}},
        headers=auth,
    )
    assert moved.status_code == 200, moved.text


async def test_a_types_cutoff_counts_real_minutes_across_a_dst_change(factory, session):
    """2027-03-14, New York springs forward at 02:00: from 01:30 EST to a 05:00 EDT
    appointment is 150 real minutes, though the wall clock says 210."""
    await appointment_types.create_type(
        session,
        {
            "key": "intake",
            "name": "Intake",
            "duration_minutes": 50,
            "reschedule_cutoff_minutes": 200,
        },
    )
    provider = await factory.provider(time_zone="America/New_York")
    await _rules(session, provider.id, reschedule_cutoff_minutes=60)
    start = datetime(2027, 3, 14, 9, 0, tzinfo=UTC)  # 05:00 EDT
    target_id = (await factory.slot(provider, start=start + timedelta(days=1))).id
    slot = await factory.slot(provider, start=start, appointment_type="intake")
    booking_id = (await factory.booking(slot)).id
    half_past_one_est = datetime(2027, 3, 14, 6, 30, tzinfo=UTC)
    midnight_est = datetime(2027, 3, 14, 5, 0, tzinfo=UTC)  # 240 real minutes before
    with pytest.raises(ValidationFailed) as refused:
        await reschedule_booking(
            session,
            booking_id,
            RescheduleInput(available_slot_id=target_id),
            now=half_past_one_est,
        )
    assert refused.value.errors == {
        "available_slot_id": ["is within the reschedule cutoff of 200 minutes"]
    }
    moved = await reschedule_booking(
        session, booking_id, RescheduleInput(available_slot_id=target_id), now=midnight_est
    )
    assert moved.available_slot_id == target_id
