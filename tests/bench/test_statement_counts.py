"""Every list costs the same number of SQL statements whatever its page size (a search
whose first page holds its whole list, one fewer)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from models.booking.bookings import BookingInput, create_booking
from tests.factories import BOOKS, SLOTS, future
from tests.statements import counted_statements

ROWS = 12
DAY = future(72).date()
SLOT_FIELDS = "id startTime endTime provider { id firstName lastName }"


@pytest.fixture
async def clinic(factory: Any, session: Any) -> dict[str, Any]:
    """ROWS slots on one day, each of its own provider, each booked by its own patient."""
    start = future(72).replace(hour=0)
    slots = []
    for n in range(ROWS):
        provider = await factory.provider(first_name=f"P{n}")
        slot_start = start + timedelta(hours=n)
        slots.append(await factory.slot(provider, start=slot_start, minutes=45))
    for n, slot in enumerate(slots[: ROWS // 2]):
        patient = await factory.patient(first_name=f"A{n}")
        await create_booking(
            session, BookingInput(available_slot_id=slot.id, patient_id=patient.id, notes="x")
        )
    return {"provider_id": slots[0].provider_id, "day": str(start.date())}


async def _rest_count(client: Any, app: Any, auth: Any, url: str, size: int) -> int:
    with counted_statements(app, begin=False) as statements:
        response = await client.get(url, params={"page_size": size}, headers=auth)
    assert response.status_code == 200, response.text
    total = int(response.headers["X-Total-Count"])
    assert len(response.json()) == min(size, total)
    if "/search" in url and size > total:
        # A search's first page that holds its whole list counts it by its length: the
        # statement that counts (with the page, in one snapshot) is not needed.
        return len(statements) + 1
    return len(statements)


async def _graphql_count(client: Any, app: Any, auth: Any, query: str, size: int) -> int:
    with counted_statements(app, begin=False) as statements:
        response = await client.post(
            "/graphql", json={"query": query, "variables": {"first": size}}, headers=auth
        )
    body = response.json()
    assert "errors" not in body, body
    connection = next(iter(body["data"].values()))
    assert len(connection["edges"]) == min(size, connection["totalCount"])
    return len(statements)


@pytest.mark.parametrize(
    "path",
    [
        f"{SLOTS}",
        f"{SLOTS}?start_date={DAY}&end_date={DAY}",
        f"{SLOTS}/search?date={DAY}&duration=30",
        f"{BOOKS}",
    ],
)
async def test_rest_lists_cost_the_same_statements_at_any_page_size(
    client: Any, app: Any, auth: Any, clinic: dict[str, Any], path: str
) -> None:
    await _rest_count(client, app, auth, path, 1)  # warms the token cache
    counts = {size: await _rest_count(client, app, auth, path, size) for size in (1, 5, ROWS)}
    assert len(set(counts.values())) == 1, counts
    assert counts[1] <= 3, counts


async def test_a_search_whose_page_holds_its_list_runs_one_statement(
    client: Any, app: Any, auth: Any, clinic: dict[str, Any]
) -> None:
    """Six bookable slots: a page of twelve is the whole list (the page's statement
    alone); a page of five is not (a second statement counts and pages the list)."""
    url = f"{SLOTS}/search?date={DAY}&duration=30"
    await client.get(url, headers=auth)  # warms the token cache
    ran = {}
    for size in (ROWS, 5):
        with counted_statements(app, begin=False) as statements:
            response = await client.get(url, params={"page_size": size}, headers=auth)
        assert response.headers["X-Total-Count"] == "6"
        assert len(response.json()) == min(size, 6)
        ran[size] = statements
    assert len(ran[5]) == len(ran[ROWS]) + 1, ran
    counting = [[s for s in ran[size] if "WITH matched" in s] for size in (ROWS, 5)]
    assert [len(found) for found in counting] == [0, 1], ran


@pytest.mark.parametrize(
    "query",
    [
        "query($first: Int) { availableSlots(first: $first) { totalCount "
        f"edges {{ cursor node {{ {SLOT_FIELDS} }} }} }} }}",
        "query($first: Int) { searchAvailableSlots(duration: 30, first: $first) { totalCount "
        f"edges {{ node {{ {SLOT_FIELDS} }} }} }} }}",
        "query($first: Int) { books(first: $first) { totalCount "
        "edges { node { id status availableSlotId patientId } } } }",
        "query($first: Int) { books(first: $first) { totalCount edges { node { id notes } } } }",
    ],
    ids=["availableSlots", "searchAvailableSlots", "books", "books-with-notes"],
)
async def test_graphql_lists_cost_the_same_statements_at_any_size(
    client: Any, app: Any, auth: Any, clinic: dict[str, Any], query: str
) -> None:
    await _graphql_count(client, app, auth, query, 1)
    counts = {size: await _graphql_count(client, app, auth, query, size) for size in (1, 5, ROWS)}
    assert len(set(counts.values())) == 1, counts
