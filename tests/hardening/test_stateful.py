"""A state machine drives creates, updates, deletes, batches, bookings and cancellations
through the REST API (some of them racing) and checks after every step that the database
never holds overlapping slots of one provider nor two active bookings of one slot."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from rest_compat.router import BASE_PATH
from tests.factories import BOOKS, SLOTS, Factory, future, iso

BATCH = f"{BASE_PATH}/providers/available_slots/create_in_batch"
T = TypeVar("T")

OVERLAPS = """
SELECT count(*) FROM available_slots a JOIN available_slots b
  ON a.provider_id = b.provider_id AND a.id < b.id
 AND a.start_time < b.end_time AND b.start_time < a.end_time
"""
DOUBLE_BOOKED = """
SELECT count(*) FROM (
  SELECT available_slot_id FROM bookings WHERE status <> 'cancelled'
  GROUP BY available_slot_id HAVING count(*) > 1
) AS doubled
"""

hours = st.integers(min_value=0, max_value=60)
minutes = st.sampled_from([30, 60, 90, 120])


async def test_api_never_breaks_the_invariants(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory, session: AsyncSession
) -> None:
    loop = asyncio.get_running_loop()
    providers = [(await factory.provider(last_name=f"P{i}")).id for i in range(2)]
    patients = [(await factory.patient(last_name=f"Q{i}")).id for i in range(3)]
    base = future(72)
    statuses: Counter[str] = Counter()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    def call(label: str, method: str, path: str, body: Any = None) -> httpx.Response:
        response = run(client.request(method, path, json=body, headers=auth))
        statuses[f"{label} {response.status_code}"] += 1
        assert response.status_code < 500, (label, response.text)
        return response

    def slot_fields(provider: int, hour: int, length: int) -> dict[str, Any]:
        start: datetime = base + timedelta(hours=hour)
        return {
            "provider_id": provider,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(minutes=length)),
        }

    async def count(statement: str) -> int:
        await session.rollback()
        return int((await session.execute(text(statement))).scalar_one())

    class ClinicMachine(RuleBasedStateMachine):
        slots = Bundle("slots")
        bookings = Bundle("bookings")

        @rule(target=slots, provider=st.sampled_from(providers), hour=hours, length=minutes)
        def create(self, provider: int, hour: int, length: int) -> Any:
            body = {"available_slot": slot_fields(provider, hour, length)}
            response = call("create", "POST", SLOTS, body)
            return response.json()["id"] if response.status_code == 201 else None

        @rule(provider=st.sampled_from(providers), hour=hours, length=minutes)
        def racing_creates(self, provider: int, hour: int, length: int) -> None:
            body = {"available_slot": slot_fields(provider, hour, length)}

            async def race() -> list[httpx.Response]:
                return list(
                    await asyncio.gather(
                        *[client.post(SLOTS, json=body, headers=auth) for _ in range(3)]
                    )
                )

            for response in run(race()):
                statuses[f"race {response.status_code}"] += 1
                assert response.status_code in (201, 409), response.text

        @rule(
            slot=slots,
            provider=st.sampled_from(providers),
            hour=hours,
            length=minutes,
        )
        def update(self, slot: int | None, provider: int, hour: int, length: int) -> None:
            if slot is not None:
                body = {"available_slot": slot_fields(provider, hour, length)}
                call("update", "PUT", f"{SLOTS}/{slot}", body)

        @rule(slot=consumes(slots))
        def delete(self, slot: int | None) -> None:
            if slot is not None:
                call("delete", "DELETE", f"{SLOTS}/{slot}")

        @rule(
            provider=st.sampled_from(providers),
            items=st.lists(st.tuples(hours, minutes), min_size=1, max_size=3),
        )
        def batch(self, provider: int, items: list[tuple[int, int]]) -> None:
            slots = []
            for hour, length in items:
                fields = slot_fields(provider, hour, length)
                slots.append({"start_time": fields["start_time"], "end_time": fields["end_time"]})
            call("batch", "POST", BATCH, {"provider_id": provider, "slots": slots})

        @rule(target=bookings, slot=slots, patient=st.sampled_from(patients))
        def book(self, slot: int | None, patient: int) -> Any:
            if slot is None:
                return None
            body = {"book": {"available_slot_id": slot, "patient_id": patient, "notes": "n"}}
            response = call("book", "POST", BOOKS, body)
            return response.json()["id"] if response.status_code == 201 else None

        @rule(slot=slots, patient=st.sampled_from(patients))
        def racing_books(self, slot: int | None, patient: int) -> None:
            if slot is None:
                return
            body = {"book": {"available_slot_id": slot, "patient_id": patient}}

            async def race() -> list[httpx.Response]:
                return list(
                    await asyncio.gather(
                        *[client.post(BOOKS, json=body, headers=auth) for _ in range(3)]
                    )
                )

            for response in run(race()):
                statuses[f"race-book {response.status_code}"] += 1
                assert response.status_code in (201, 404, 409, 422), response.text

        @rule(booking=consumes(bookings))
        def cancel(self, booking: int | None) -> None:
            if booking is not None:
                call("cancel", "PUT", f"{BOOKS}/{booking}", {"book": {"status": "cancelled"}})

        @invariant()
        def no_overlap_and_no_double_booking(self) -> None:
            assert run(count(OVERLAPS)) == 0
            assert run(count(DOUBLE_BOOKED)) == 0

    machine_settings = settings(
        max_examples=15,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    await asyncio.to_thread(run_state_machine_as_test, ClinicMachine, settings=machine_settings)
    print(f"\nstateful run: {sum(statuses.values())} requests, {dict(sorted(statuses.items()))}")
    assert any(key.startswith("create 201") for key in statuses)
    assert any(key.startswith("create 409") or key.startswith("race 409") for key in statuses)
