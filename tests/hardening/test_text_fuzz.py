"""Arbitrary strings (lone surrogates, NUL and other control characters included) in every
free-text field of both faces: a 4xx or a success, never a 5xx, always a JSON reply."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from clinic_availability.app import create_app
from common.settings import Settings
from models.booking.bookings import BookingInput, create_booking
from models.platform.db import create_engine
from models.platform.sessions import create_sessionmaker
from models.platform.users import create_user
from models.scheduling import people
from models.scheduling.slots import SlotInput, create_single_slot
from rest_compat.router import BASE_PATH
from tests.factories import future, iso

EXAMPLES = int(os.environ.get("TEXT_FUZZ_EXAMPLES", "12"))
TEXT_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)
# Any code point, surrogates included (Hypothesis leaves them out of text() by default);
# half the strings are drawn mostly from the characters that once broke a reply.
SURROGATE = st.integers(min_value=0xD800, max_value=0xDFFF).map(chr)
ANY_CHARACTER = st.one_of(st.characters(), SURROGATE)
SUSPECT = st.sampled_from(["\x00", "\ud800", "\udbff", "\udfff", "\x1f", "\U0001f600", "'", "é"])
TEXT = st.one_of(
    st.text(ANY_CHARACTER, max_size=40),
    st.text(st.one_of(SUSPECT, SURROGATE, st.characters()), min_size=1, max_size=12),
)


@dataclass(frozen=True)
class Seeded:
    token: str
    provider_id: int
    patient_id: int
    slot_id: int
    booking_id: int


async def _seed(database_url: str) -> Seeded:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            _user, token = await create_user(session, role="admin", first_name="F", last_name="Z")
            provider = await people.create_provider(session, first_name="P", last_name="Q")
            patient = await people.create_patient(session, first_name="A", last_name="B")
            slots = []
            for hours in (48, 50):
                start = future(hours)
                slots.append(
                    await create_single_slot(
                        session,
                        SlotInput(
                            provider_id=provider.id,
                            start_time=start,
                            end_time=start + timedelta(hours=1),
                        ),
                    )
                )
            booking = await create_booking(
                session, BookingInput(available_slot_id=slots[0].id, patient_id=patient.id)
            )
            return Seeded(token, provider.id, patient.id, slots[1].id, booking.id)
    finally:
        await engine.dispose()


# (method, path, body or query builder): each puts the text into one field.
Request = tuple[str, str, dict[str, Any] | None, dict[str, str] | None]
Target = Callable[[Seeded, str], Request]


def _slot(s: Seeded, **fields: Any) -> dict[str, Any]:
    return {
        "provider_id": s.provider_id,
        "start_time": iso(future(300)),
        "end_time": iso(future(301)),
        **fields,
    }


SLOTS = f"{BASE_PATH}/available_slots"
BOOKS = f"{BASE_PATH}/books"
REST_TARGETS: dict[str, Target] = {
    "slot.appointment_type": lambda s, t: (
        "POST",
        SLOTS,
        {"available_slot": _slot(s, appointment_type=t)},
        None,
    ),
    "slot.start_time": lambda s, t: (
        "POST",
        SLOTS,
        {"available_slot": _slot(s, start_time=t)},
        None,
    ),
    "slot.recurrence_pattern": lambda s, t: (
        "POST",
        SLOTS,
        {"available_slot": _slot(s, recurring=True, recurrence_pattern=t)},
        None,
    ),
    "slot.recurrence_rule": lambda s, t: (
        "POST",
        SLOTS,
        {"available_slot": _slot(s, recurring=True, recurrence_rule=t)},
        None,
    ),
    "slot.recurrence_end_date": lambda s, t: (
        "POST",
        SLOTS,
        {
            "available_slot": _slot(
                s, recurring=True, recurrence_pattern="weekly", recurrence_end_date=t
            )
        },
        None,
    ),
    "slot update.appointment_type": lambda s, t: (
        "PUT",
        f"{SLOTS}/{s.slot_id}",
        {"available_slot": {"appointment_type": t}},
        None,
    ),
    "book.notes": lambda s, t: (
        "POST",
        BOOKS,
        {"book": {"available_slot_id": s.slot_id, "patient_id": s.patient_id, "notes": t}},
        None,
    ),
    "book.appointment_type": lambda s, t: (
        "POST",
        BOOKS,
        {
            "book": {
                "available_slot_id": s.slot_id,
                "patient_id": s.patient_id,
                "appointment_type": t,
            }
        },
        None,
    ),
    "book update.notes": lambda s, t: (
        "PUT",
        f"{BOOKS}/{s.booking_id}",
        {"book": {"notes": t}},
        None,
    ),
    "book update.cancellation_reason": lambda s, t: (
        "PUT",
        f"{BOOKS}/{s.booking_id}",
        {"book": {"cancellation_reason": t}},
        None,
    ),
    "book update.status": lambda s, t: (
        "PUT",
        f"{BOOKS}/{s.booking_id}",
        {"book": {"status": t}},
        None,
    ),
    "batch.appointment_type": lambda s, t: (
        "POST",
        f"{BASE_PATH}/providers/available_slots/create_in_batch",
        {
            "provider_id": s.provider_id,
            "slots": [
                {
                    "start_time": iso(future(400)),
                    "end_time": iso(future(401)),
                    "appointment_type": t,
                }
            ],
        },
        None,
    ),
    "list.appointment_type": lambda s, t: ("GET", SLOTS, None, {"appointment_type": t}),
    "list.start_date": lambda s, t: ("GET", SLOTS, None, {"start_date": t}),
}


def _gql(query: str, variables: dict[str, Any], operation: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"query": query, "variables": variables}
    if operation is not None:
        body["operationName"] = operation
    return body


def _mutation(field: str, arguments: str, declared: str) -> str:
    return f"mutation M({declared}) {{ {field}({arguments}) {{ __typename }} }}"


GRAPHQL_TARGETS: dict[str, Target] = {
    "createProvider.firstName": lambda s, t: (
        "POST",
        "/graphql",
        _gql(
            _mutation("createProvider", "input: $i", "$i: CreateProviderInput!"),
            {"i": {"firstName": t, "lastName": "L"}},
        ),
        None,
    ),
    "createProvider.timeZone": lambda s, t: (
        "POST",
        "/graphql",
        _gql(
            _mutation("createProvider", "input: $i", "$i: CreateProviderInput!"),
            {"i": {"firstName": "F", "lastName": "L", "timeZone": t}},
        ),
        None,
    ),
    "updateProvider.lastName": lambda s, t: (
        "POST",
        "/graphql",
        _gql(
            _mutation(
                "updateProvider", f"id: {s.provider_id}, input: $i", "$i: UpdateProviderInput!"
            ),
            {"i": {"lastName": t}},
        ),
        None,
    ),
    "createPatient.lastName": lambda s, t: (
        "POST",
        "/graphql",
        _gql(
            _mutation("createPatient", "input: $i", "$i: CreatePatientInput!"),
            {"i": {"firstName": "F", "lastName": t}},
        ),
        None,
    ),
    "updatePatient.firstName": lambda s, t: (
        "POST",
        "/graphql",
        _gql(
            _mutation("updatePatient", f"id: {s.patient_id}, input: $i", "$i: UpdatePatientInput!"),
            {"i": {"firstName": t}},
        ),
        None,
    ),
    "createAvailableSlot.appointmentType": lambda s, t: (
        "POST",
        "/graphql",
        _gql(
            _mutation("createAvailableSlot", "input: $i", "$i: CreateAvailableSlotInput!"),
            {
                "i": {
                    "providerId": s.provider_id,
                    "startTime": iso(future(500)),
                    "endTime": iso(future(501)),
                    "appointmentType": t,
                }
            },
        ),
        None,
    ),
    "createAvailableSlot.recurrenceRule": lambda s, t: (
        "POST",
        "/graphql",
        _gql(
            _mutation("createAvailableSlot", "input: $i", "$i: CreateAvailableSlotInput!"),
            {
                "i": {
                    "providerId": s.provider_id,
                    "startTime": iso(future(600)),
                    "endTime": iso(future(601)),
                    "recurring": True,
                    "recurrenceRule": t,
                }
            },
        ),
        None,
    ),
    "createBook.notes": lambda s, t: (
        "POST",
        "/graphql",
        _gql(
            _mutation("createBook", "input: $i", "$i: CreateBookInput!"),
            {"i": {"availableSlotId": s.slot_id, "patientId": s.patient_id, "notes": t}},
        ),
        None,
    ),
    "updateBook.cancellationReason": lambda s, t: (
        "POST",
        "/graphql",
        _gql(
            _mutation("updateBook", f"id: {s.booking_id}, input: $i", "$i: UpdateBookInput!"),
            {"i": {"cancellationReason": t}},
        ),
        None,
    ),
    "cancelBook.reason": lambda s, t: (
        "POST",
        "/graphql",
        _gql(_mutation("cancelBook", f"id: {s.booking_id}, reason: $r", "$r: String"), {"r": t}),
        None,
    ),
    "availableSlots.filter": lambda s, t: (
        "POST",
        "/graphql",
        _gql(
            "query Q($f: AvailableSlotFilter) { availableSlots(filter: $f) { totalCount } }",
            {"f": {"appointmentType": t, "startDate": t}},
        ),
        None,
    ),
    "operationName": lambda s, t: (
        "POST",
        "/graphql",
        _gql("query Q { providers { totalCount } }", {}, operation=t),
        None,
    ),
    "document": lambda s, t: (
        "POST",
        "/graphql",
        _gql("query Q { providers { totalCount } } # " + t, {}),
        None,
    ),
}


@pytest.fixture
def served(database_url: str) -> Iterator[tuple[TestClient, Seeded]]:
    seeded = asyncio.run(_seed(database_url))
    app = create_app(Settings(database_url=database_url, token_cache_seconds=5))
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http, seeded


def _call(http: TestClient, request: Request, headers: dict[str, str]) -> Any:
    method, path, body, params = request
    content = None if body is None else json.dumps(body, ensure_ascii=True).encode("ascii")
    if params:
        # A URL carries bytes: a lone surrogate goes as the bytes UTF-8 would give it.
        path += "?" + urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in params.items()})
    return http.request(
        method,
        path,
        content=content,
        headers={**headers, "content-type": "application/json"},
    )


def _fuzz_field(
    http: TestClient,
    seeded: Seeded,
    name: str,
    target: Target,
    statuses: dict[int, int],
) -> None:
    callers = {"admin": {"X-User-Token": seeded.token}, "anonymous": {}}

    @TEXT_SETTINGS
    @given(text=TEXT, caller=st.sampled_from(sorted(callers)))
    def fuzz(text: str, caller: str) -> None:
        response = _call(http, target(seeded, text), callers[caller])
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (name, repr(text), response.text[:300])
        assert response.headers["content-type"].startswith("application/"), name
        response.json()

    fuzz()


@pytest.mark.parametrize("face", ["rest", "graphql"])
def test_no_text_in_any_field_gets_a_server_error(
    served: tuple[TestClient, Seeded], face: str
) -> None:
    http, seeded = served
    targets = REST_TARGETS if face == "rest" else GRAPHQL_TARGETS
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for name, target in targets.items():
        try:
            _fuzz_field(http, seeded, name, target, statuses)
        except AssertionError as exc:
            failures.append(str(exc)[:600])
    print(f"\n{face}: {len(targets)} fields, statuses {dict(sorted(statuses.items()))}")
    assert not failures, "\n".join(failures)
