"""Bookings through GraphQL: the same rules and errors as REST, notes only when selected."""

from __future__ import annotations

import pytest

from gql.bookings import BookingStatus as GraphQLStatus
from models.platform.entities import BookingStatus
from tests.bookings.conftest import CANARY
from tests.bookings.helpers import book_body, move_slot_to_past, stored_slot
from tests.factories import BOOKS
from tests.graphql.helpers import extensions, gql
from tests.graphql.plan_switch import (  # noqa: F401  (rendered, plan, graphql-core)
    no_rendering_fallback,
    plan_settings,
)

BOOK_FIELDS = "id availableSlotId patientId appointmentType status createdAt updatedAt"

CREATE = f"""
mutation($input: CreateBookInput!) {{ createBook(input: $input) {{ {BOOK_FIELDS} notes }} }}
"""
CANCEL = """
mutation($id: Int!, $reason: String) {
  cancelBook(id: $id, reason: $reason) { id status cancellationReason cancelledAt }
}
"""
UPDATE = """
mutation($id: Int!, $input: UpdateBookInput!) { updateBook(id: $id, input: $input) { id status } }
"""


def test_status_enum_mirrors_the_stored_statuses():
    assert [m.value for m in GraphQLStatus] == [m.value for m in BookingStatus]


async def test_create_matches_rest(client, auth, factory):
    slot = await factory.slot(appointment_type="therapy")
    patient = await factory.patient()
    body = await gql(
        client,
        CREATE,
        {"input": {"availableSlotId": slot.id, "patientId": patient.id, "notes": CANARY}},
        auth,
    )
    book = body["data"]["createBook"]
    assert book["status"] == "CONFIRMED"
    assert book["notes"] == CANARY
    assert book["appointmentType"] == "therapy"
    rest = (await client.get(f"{BOOKS}/{book['id']}", headers=auth)).json()
    assert rest["created_at"] == book["createdAt"]
    assert (rest["available_slot_id"], rest["patient_id"]) == (slot.id, patient.id)


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"availableSlotId": 10**6}, 422, "VALIDATION_FAILED"),
        ({"notes": "x" * 2001}, 422, "VALIDATION_FAILED"),
        ({"appointmentType": "surgery"}, 422, "VALIDATION_FAILED"),
        ({"taken": True}, 409, "CONFLICT"),
        ({"started": True}, 422, "VALIDATION_FAILED"),
    ],
)
async def test_errors_match_rest(client, auth, factory, db_count, fields, status, code):
    fields = dict(fields)  # the parameter is shared by both backends' runs
    slot = await factory.slot()
    patient = await factory.patient()
    if fields.pop("taken", False):
        await factory.booking(slot)
    if fields.pop("started", False):
        await move_slot_to_past(factory.session, slot.id)
    before = await db_count("bookings")
    gql_input = {"availableSlotId": slot.id, "patientId": patient.id, **fields}
    rest_fields = {
        "available_slot_id": gql_input["availableSlotId"],
        "patient_id": patient.id,
        **({"notes": fields["notes"]} if "notes" in fields else {}),
        **({"appointment_type": fields["appointmentType"]} if "appointmentType" in fields else {}),
    }

    body = await gql(client, CREATE, {"input": gql_input}, auth)
    rest = await client.post(BOOKS, json={"book": rest_fields}, headers=auth)

    ext = extensions(body)
    assert (ext["code"], ext["status"]) == (code, status)
    assert rest.status_code == status
    assert ext["errors"] == rest.json()["errors"]
    assert await db_count("bookings") == before


async def test_cancel_book_frees_the_slot_and_rebook(client, auth, factory):
    slot = await factory.slot()
    slot_id = slot.id
    booking = await factory.booking(slot, notes=CANARY)
    patient_id = (await factory.patient("Sam", "Okafor")).id

    body = await gql(client, CANCEL, {"id": booking.id, "reason": "Sick"}, auth)

    cancelled = body["data"]["cancelBook"]
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["cancellationReason"] == "Sick"
    assert cancelled["cancelledAt"].endswith("Z")
    assert (await stored_slot(factory.session, slot_id)).available is True
    again = await gql(
        client, CREATE, {"input": {"availableSlotId": slot_id, "patientId": patient_id}}, auth
    )
    assert again["data"]["createBook"]["status"] == "CONFIRMED"


async def test_update_book_status_rules(client, auth, factory):
    slot = await factory.slot()
    slot_id = slot.id
    booking = await factory.booking(slot)
    early = await gql(client, UPDATE, {"id": booking.id, "input": {"status": "COMPLETED"}}, auth)
    assert extensions(early)["errors"] == {
        "status": ["can't be completed before the appointment starts"]
    }
    await move_slot_to_past(factory.session, slot_id)
    done = await gql(client, UPDATE, {"id": booking.id, "input": {"status": "COMPLETED"}}, auth)
    assert done["data"]["updateBook"]["status"] == "COMPLETED"
    missing = await gql(client, UPDATE, {"id": 10**6, "input": {"status": "CANCELLED"}}, auth)
    assert extensions(missing)["code"] == "NOT_FOUND"


async def test_books_connection_reads_notes_only_when_selected(client, auth, factory):
    first = await factory.booking(notes=CANARY)
    provider = await factory.provider("Omar", "Haddad")
    second = await factory.booking(await factory.slot(provider), notes=CANARY)
    query = """
    query($first: Int, $after: String, $filter: BookingFilter) {
      books(first: $first, after: $after, filter: $filter) {
        totalCount pageInfo { hasNextPage endCursor } nodes { id status %s }
      }
    }
    """
    without = await gql(client, query % "", {"first": 1}, auth)
    page = without["data"]["books"]
    assert page["totalCount"] == 2
    assert page["nodes"] == [{"id": first.id, "status": "CONFIRMED"}]
    assert page["pageInfo"]["hasNextPage"] is True

    after = page["pageInfo"]["endCursor"]
    with_notes = await gql(client, query % "notes", {"first": 1, "after": after}, auth)
    assert with_notes["data"]["books"]["nodes"] == [
        {"id": second.id, "status": "CONFIRMED", "notes": CANARY}
    ]
    by_fragment = await gql(
        client,
        "query { books { edges { node { ...B } } } } fragment B on Booking { notes }",
        None,
        auth,
    )
    assert [e["node"]["notes"] for e in by_fragment["data"]["books"]["edges"]] == [CANARY] * 2

    filtered = await gql(
        client, query % "", {"filter": {"providerId": provider.id, "status": "CONFIRMED"}}, auth
    )
    assert [n["id"] for n in filtered["data"]["books"]["nodes"]] == [second.id]
    bad = await gql(client, query % "", {"filter": {"startDate": "tomorrow"}}, auth)
    assert extensions(bad)["errors"] == {"date": ["must be a calendar day, YYYY-MM-DD"]}


async def test_book_query_and_auth(client, auth, factory):
    booking = await factory.booking(notes=CANARY)
    body = await gql(
        client, "query($id: Int!) { book(id: $id) { id notes } }", {"id": booking.id}, auth
    )
    assert body["data"]["book"] == {"id": booking.id, "notes": CANARY}
    anonymous = await gql(client, "query { books { totalCount } }")
    assert extensions(anonymous)["code"] == "UNAUTHENTICATED"


async def test_rest_list_and_graphql_agree(client, auth, factory):
    for _ in range(3):
        await factory.booking(notes=CANARY)
    rest = (await client.get(BOOKS, headers=auth)).json()
    body = await gql(client, f"query {{ books {{ nodes {{ {BOOK_FIELDS} }} }} }}", None, auth)
    nodes = body["data"]["books"]["nodes"]
    assert [b["id"] for b in rest] == [n["id"] for n in nodes]
    assert [b["updated_at"] for b in rest] == [n["updatedAt"] for n in nodes]
    assert [b["status"] for b in rest] == [n["status"].lower() for n in nodes]


async def test_rest_body_of_create_is_parity_reference(client, auth, factory):
    """REST create with the same slot twice: the GraphQL conflict mirrors it exactly."""
    slot = await factory.slot()
    patient = await factory.patient()
    assert (
        await client.post(BOOKS, json=book_body(slot.id, patient.id), headers=auth)
    ).status_code == 201
    body = await gql(
        client, CREATE, {"input": {"availableSlotId": slot.id, "patientId": patient.id}}, auth
    )
    assert extensions(body) == {
        "code": "CONFLICT",
        "status": 409,
        "errors": "Slot is not available",
    }
