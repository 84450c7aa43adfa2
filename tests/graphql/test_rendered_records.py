"""Bookings, providers and appointment types answered with the database's JSON: the
bytes graphql-core writes (aliases, fragments, directives, nested records, errors), pages
both ways, no rows read, the notes audit kept, one statement per root field."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

import gql.batch as batch_module
import gql.recurrence as recurrence_module
from models.booking import bookings as booking_ops
from models.booking.bookings import cancel_booking
from models.scheduling import appointment_types as type_ops
from models.scheduling import people
from models.scheduling import slots as slot_ops
from models.scheduling.series import RecurrenceLimits, create_slot
from models.scheduling.slots import SlotInput
from tests.factories import Factory, future
from tests.graphql.helpers import SLOT_FIELDS
from tests.graphql.test_rendered import (
    core,
    counters,
    post,
    post_variables,
    rendered_settings,
)
from tests.graphql.test_statement_count import counted_statements

__all__ = ["core", "rendered_settings"]

BOOKING_FIELDS = """id nodeId availableSlotId patientId appointmentType status
    cancellationReason cancelledAt rescheduledFromSlotId rescheduleCount createdAt updatedAt
    notes __typename"""
PROVIDER_FIELDS = """id nodeId firstName lastName timeZone active appointmentTypeKeys
    licensedStates languages bookingRules { minimumNoticeMinutes bookingWindowDays
    bufferBeforeMinutes bufferAfterMinutes maxBookingsPerDay cancellationCutoffMinutes
    rescheduleCutoffMinutes maxBookingsPerWeek maxBookingsPerMonth __typename } __typename"""
TYPE_FIELDS = """id key name durationMinutes bufferBeforeMinutes bufferAfterMinutes modes
    active createdAt updatedAt __typename"""
GROUPED = "providerAvailableSlots"
PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor __typename }"

SHAPES = [
    # Every field, through edges and nodes.
    f"""query {{ books {{ totalCount {PAGE_INFO} edges {{ cursor node {{ {BOOKING_FIELDS} }}
        __typename }} nodes {{ id }} __typename }} }}""",
    f"""query($first: Int!) {{ books(first: $first, filter: {{status: CONFIRMED}}) {{
        totalCount {PAGE_INFO} nodes {{ {BOOKING_FIELDS} }} }} }}""",
    f"""query {{ books(last: 2) {{ totalCount {PAGE_INFO} edges {{ cursor node {{ id }} }} }} }}""",
    f"""query {{ a: book(id: 1) {{ {BOOKING_FIELDS} }} b: book(id: 2) {{ status
        cancellationReason cancelledAt }} }}""",
    f"""query {{ providers {{ totalCount {PAGE_INFO} edges {{ cursor node {{ {PROVIDER_FIELDS}
        }} }} nodes {{ id }} }} }}""",
    f"""query {{ providers(active: true, last: 1) {{ totalCount {PAGE_INFO}
        nodes {{ id lastName }} }} one: provider(id: 1) {{ {PROVIDER_FIELDS} }} }}""",
    f"""query {{ appointmentTypes {{ {TYPE_FIELDS} }} retired: appointmentTypes(active: false)
        {{ key }} one: appointmentType(key: "therapy") {{ {TYPE_FIELDS} }} }}""",
    # Slots grouped by provider: the provider and its first slots, nested.
    f"""query {{ providerAvailableSlots {{ totalCount {PAGE_INFO} edges {{ cursor node {{
        provider {{ id nodeId firstName lastName timeZone active bookingRules {{
        maxBookingsPerDay __typename }} __typename }} availableSlots {{ {SLOT_FIELDS}
        nodeId provider {{ lastName }} __typename }} __typename }} }} nodes {{
        provider {{ id }} }} __typename }} }}""",
    """query { a: providerAvailableSlots(first: 1, slotsPerProvider: 2) { totalCount
        nodes { s: availableSlots { id startTime } } }
        b: providerAvailableSlots(last: 1, filter: {providerId: 2}) { pageInfo {
        hasPreviousPage } nodes { provider { id } availableSlots { id } } }
        c: providerAvailableSlots(filter: {providerId: 999999}) { totalCount nodes {
        provider { id } } pageInfo { startCursor endCursor } } }""",
    """query { providerAvailableSlots(slotsPerProvider: 0) { totalCount } }""",
    # A slot's provider with its matching lists, anywhere a slot is.
    """query { availableSlots(first: 3) { nodes { id provider { appointmentTypeKeys
        licensedStates languages } } } }""",
    """query { one: availableSlot(id: 1) { provider { languages } } }""",
    """query { g: providerAvailableSlots { nodes { provider { licensedStates languages }
        availableSlots { provider { languages } } } } }""",
    # A recurring series with its next occurrences (and their provider), and not found.
    f"""query {{ slotSeries(id: 1, upcoming: 3) {{ id nodeId providerId recurrencePattern
        recurrenceRule timeZone startLocal durationMinutes appointmentType recurrenceEndDate
        generatedUntil exhausted occurrencesCreated skippedConflicts upcomingSlots {{
        {SLOT_FIELDS} provider {{ id firstName }} __typename }} __typename }}
        none: slotSeries(id: 1, upcoming: 0) {{ upcomingSlots {{ id }} }}
        every: slotSeries(id: 1) {{ ... on SlotSeries {{ upcomingSlots {{ id }} }} }} }}""",
    """query { slotSeries(id: 999999) { id } }""",
    """query { slotSeries(id: 1, upcoming: -1) { id } }""",
    # Aliases, named and inline fragments, directives on variables, repeated fields.
    """query($yes: Boolean!, $no: Boolean!) {
        b: books(first: 2) { n: totalCount ...BookPage @include(if: $yes)
            nodes { ... on Booking @skip(if: $no) { when: createdAt id } id }
            info: pageInfo @skip(if: $yes) { hasNextPage } }
        p: providers { nodes { ...Who @include(if: $no) ... { langs: languages id } } }
        t: appointmentTypes { ... on AppointmentType { k: key m: modes } key @skip(if: $no) }
        top: __typename
    }
    fragment BookPage on BookingConnection {
        pageInfo { endCursor } edges { node { s: status notes } }
    }
    fragment Who on Provider { firstName bookingRules { maxBookingsPerDay } }""",
    # Records not found (an error each, data null), and refusals.
    """query { book(id: 999999) { id } }""",
    """query { provider(id: 999999) { id } }""",
    """query { appointmentType(key: "nope") { id } }""",
    """query { books(first: 0) { totalCount } }""",
    """query { books(after: "%%") { totalCount } }""",
    """query { providers(first: 1, last: 1) { totalCount } }""",
    """query { providers(before: "x") { totalCount } }""",
    """query { ok: provider(id: 1) { id } missing: book(id: 999999) { id } }""",
]


@pytest.fixture
async def records(factory: Factory) -> list[int]:
    """Providers with matching lists and awkward names, bookings of every status, notes."""
    jane = await people.create_provider(
        factory.session,
        first_name="Jane",
        last_name='O"Neil \\ é\n',
        matching={"languages": ["en", "pt-BR"], "licensed_states": ["CA", "NY"]},
    )
    omar = await factory.provider("Omar", "Haddad", time_zone="America/New_York")
    patients = [await factory.patient(f"P{i}", "Q") for i in range(3)]
    start = future(30, minute=0)
    ids = []
    for index in range(5):
        slot = await factory.slot([jane, omar][index % 2], start=start + timedelta(hours=index))
        booking = await factory.booking(
            slot, patients[index % 3], notes=f'note "{index}" é' if index != 3 else None
        )
        ids.append(booking.id)
    await cancel_booking(factory.session, ids[1], reason="moved \u2028 away")
    # A daily series (id 1) ending on a day, starting at a wall-clock time with seconds.
    begin = future(24 * 3, minute=0).replace(second=30)
    await create_slot(
        factory.session,
        SlotInput(
            provider_id=omar.id,
            start_time=begin,
            end_time=begin + timedelta(minutes=30),
            recurring=True,
            recurrence_pattern="daily",
            recurrence_end_date=(begin + timedelta(days=5)).date(),
        ),
        limits=RecurrenceLimits(horizon_days=10),
    )
    await factory.session.commit()
    return ids


def refuse_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows paths fail: only rendered JSON can answer."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("rows read for a rendered root field")

    for module, name in (
        (batch_module, "list_provider_slots"),
        (recurrence_module, "load_series"),
        (slot_ops, "list_slots"),
        (slot_ops, "get_slot"),
        (booking_ops, "get_booking"),
        (booking_ops, "list_bookings"),
        (people, "get_provider"),
        (people, "list_people"),
        (type_ops, "list_types"),
        (type_ops, "get_type_by_key"),
    ):
        monkeypatch.setattr(module, name, refuse)


@pytest.mark.parametrize("query", SHAPES)
async def test_rendered_bytes_are_graphql_cores(
    app: Any, core: Any, auth: dict[str, str], records: list[int], query: str, monkeypatch: Any
) -> None:
    expected = await post(core, query, auth)
    refuse_rows(monkeypatch)
    before = counters(app).rendered
    assert await post(app, query, auth) == expected
    assert b'"data":{' in expected[1] or b'"data":null' in expected[1]
    if b'"data":{' in expected[1] and b'"errors"' not in expected[1]:
        assert counters(app).rendered > before
    assert counters(app).fallbacks == 0


@pytest.mark.parametrize(
    ("field", "forward", "backward"),
    [
        ("books", "first: 2, after: $cursor", "last: 2, before: $cursor"),
        ("providers", "first: 1, after: $cursor", "last: 1, before: $cursor"),
        (
            GROUPED,
            "first: 1, after: $cursor, slotsPerProvider: 2",
            "last: 1, before: $cursor",
        ),
    ],
)
async def test_pages_both_ways_are_graphql_cores(
    app: Any,
    core: Any,
    auth: dict[str, str],
    records: list[int],
    monkeypatch: Any,
    field: str,
    forward: str,
    backward: str,
) -> None:
    """Every page forwards to the end, then backwards to the start, cursors included."""
    seen = 0
    for arguments, more, cursor_field in (
        (forward, "hasNextPage", "endCursor"),
        (backward, "hasPreviousPage", "startCursor"),
    ):
        node = "provider { id } availableSlots { id }" if field == GROUPED else "id nodeId"
        query = f"""query($cursor: String) {{ {field}({arguments}) {{ totalCount {PAGE_INFO}
            edges {{ cursor node {{ {node} }} }} }} }}"""
        cursor = None
        for _ in range(20):
            monkeypatch.undo()
            expected = await post_variables(core, query, auth, cursor=cursor)
            refuse_rows(monkeypatch)
            got = await post_variables(app, query, auth, cursor=cursor)
            assert got == expected
            seen += 1
            page = httpx.Response(200, content=got[1]).json()["data"][field]
            if not page["pageInfo"][more]:
                break
            cursor = page["pageInfo"][cursor_field]
    assert seen > 3
    assert counters(app).fallbacks == 0


async def notes_reads(app: Any) -> Counter[tuple[int, ...]]:
    """The notes-read audit entries, each as the bookings it names."""
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            text("SELECT entity_id, changed_fields FROM audit_log WHERE action = 'read_notes'")
        )
        entries: Counter[tuple[int, ...]] = Counter()
        for entity_id, fields in rows:
            if isinstance(fields, str):
                fields = json.loads(fields)
            named = [int(f.split(":", 1)[1]) for f in fields if f.startswith("booking:")]
            entries[(int(entity_id),) if entity_id is not None else tuple(named)] += 1
        return entries


@pytest.mark.parametrize(
    "query",
    [
        "query { books(first: 2) { nodes { id notes } } }",
        "query { books(last: 2) { edges { node { notes } } } }",
        "query { books(first: 2) { nodes { id notes @skip(if: true) } } }",
        "query { books { totalCount } }",
        "query { a: book(id: 1) { notes } b: book(id: 2) { id } }",
        "query { a: books(first: 1) { nodes { notes } } b: book(id: 3) { ...N } }"
        " fragment N on Booking { notes }",
    ],
)
async def test_notes_reads_are_audited_as_by_graphql_core(
    app: Any, core: Any, auth: dict[str, str], records: list[int], query: str
) -> None:
    """One entry per root field that read notes, naming the bookings shown, both ways."""
    start = await notes_reads(app)
    expected = await post(core, query, auth)
    after_core = await notes_reads(app)
    assert await post(app, query, auth) == expected
    after_rendered = await notes_reads(app)
    assert after_rendered - after_core == after_core - start
    assert counters(app).rendered >= 1
    assert counters(app).fallbacks == 0


async def test_statements_constant_in_page_size(
    app: Any, client: httpx.AsyncClient, auth: dict[str, str], records: list[int]
) -> None:
    """One statement per rendered root field, whatever the page size; notes add the audit
    entry's insert only."""
    query = """query($first: Int!) { books(first: $first) { totalCount edges { cursor
        node { id status notes } } } providers(first: $first) { nodes { id languages
        bookingRules { maxBookingsPerDay } } } appointmentTypes { key modes } }"""
    await client.post("/graphql", json={"query": query, "variables": {"first": 1}}, headers=auth)
    counts = []
    for first in (1, 5):
        with counted_statements(app) as statements:
            response = await client.post(
                "/graphql", json={"query": query, "variables": {"first": first}}, headers=auth
            )
        assert "errors" not in response.json()
        reads = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
        writes = [s for s in statements if "audit_log" in s and "INSERT" in s.upper()]
        counts.append((len([r for r in reads if "api_tokens" not in r]), len(writes)))
    assert counts == [(3, 1), (3, 1)]
    assert counters(app).fallbacks == 0
