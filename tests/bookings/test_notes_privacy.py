"""Booking notes never reach a log, even when a request fails in every way it can.

The canary check itself runs after every booking test (see conftest); these tests make
the server fail with the canary in the request, where a careless log line would leak it.
"""

from __future__ import annotations

from models.booking import bookings as booking_ops
from tests.bookings.conftest import CANARY
from tests.bookings.helpers import book_body
from tests.factories import BOOKS


async def test_unexpected_database_error_is_logged_without_notes(
    http, auth, factory, monkeypatch, log_canary
):
    """A refusal the service does not recognise: 500, logged with its stack, notes hidden."""
    slot = await factory.slot()
    patient = await factory.patient()
    monkeypatch.setattr(booking_ops, "is_constraint_violation", lambda *_args: False)
    monkeypatch.setattr(booking_ops, "_claim_seat", _always_claims)
    monkeypatch.setattr(booking_ops, "_patient_booked", _never_booked)
    # The folded claim would refuse first (the seat is taken): the full path's checks,
    # patched to pass, leave the INSERT to meet the database's own refusal.
    monkeypatch.setattr(booking_ops.claims, "quick_book", _not_folded)
    await factory.booking(slot, patient, notes=CANARY)
    seen = log_canary.records_seen

    response = await http.post(
        BOOKS, json=book_body(slot.id, patient.id, notes=CANARY), headers=auth
    )

    assert response.status_code == 500
    assert response.json()["errors"] == "Internal server error"
    assert CANARY not in response.text
    assert log_canary.records_seen > seen  # the failure was logged, without the notes


async def _always_claims(*_args: object) -> bool:
    return True


async def _never_booked(*_args: object) -> bool:
    return False


async def _not_folded(*_args: object, **_kwargs: object) -> None:
    return None


async def test_graphql_errors_with_notes_in_the_document(http, auth, factory):
    """Errors whose GraphQL document quotes the notes inline are not logged with it."""
    slot = await factory.slot()
    patient = await factory.patient()
    await factory.booking(slot)
    documents = [
        # 409: the slot is taken.
        f"mutation {{ createBook(input: {{availableSlotId: {slot.id}, patientId: {patient.id}, "
        f'notes: "{CANARY}"}}) {{ id }} }}',
        # 422 from the domain, and an invalid document.
        f'mutation {{ createBook(input: {{availableSlotId: 0, patientId: 0, notes: "{CANARY}"}}) '
        "{ id } }",
        f'mutation {{ createBook(input: {{availableSlotId: "x", notes: "{CANARY}"}}) {{ id }} }}',
        f'query {{ books(filter: {{startDate: "{CANARY}"}}) {{ totalCount }} }}',
    ]
    for document in documents:
        response = await http.post("/graphql", json={"query": document}, headers=auth)
        assert response.status_code in (200, 400)
        assert response.json()["errors"]
    variables = {"input": {"availableSlotId": "x", "patientId": 1, "notes": CANARY}}
    response = await http.post(
        "/graphql",
        json={
            "query": "mutation($input: CreateBookInput!) { createBook(input: $input) { id } }",
            "variables": variables,
        },
        headers=auth,
    )
    assert response.json()["errors"]


async def test_rest_request_errors_with_notes(http, auth, factory):
    slot = await factory.slot()
    for body in (
        book_body("x", 1, notes=CANARY),
        book_body(slot.id, 10**6, notes=CANARY + "x" * 2001),
        {"book": {"notes": [CANARY]}},
    ):
        response = await http.post(BOOKS, json=body, headers=auth)
        assert response.status_code == 422
    malformed = await http.post(
        BOOKS,
        content=f'{{"book": {{"notes": "{CANARY}"',
        headers={**auth, "content-type": "application/json"},
    )
    assert malformed.status_code == 422
