"""Slot root fields answered with the database's JSON: the bytes graphql-core would write,
really answered by the rendered path (no rows read), fallbacks counted, statements fixed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

import gql.plan.rendered as rendered_module
from clinic_availability.app import create_app
from common.settings import Settings
from gql.plan.extension import PlanCache
from models.platform.entities import AvailableSlot as SlotRow
from models.scheduling import slot_render
from models.scheduling import slots as slot_ops
from tests.factories import Factory, future
from tests.graphql.helpers import GRAPHQL, SLOT_FIELDS
from tests.graphql.test_statement_count import counted_statements

PAGE_SHAPES = [
    # Every field, through edges and nodes, with the provider's booking rules.
    f"""query($first: Int!) {{ availableSlots(first: $first) {{
        totalCount pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor __typename }}
        edges {{ cursor node {{ {SLOT_FIELDS} nodeId provider {{ nodeId bookingRules {{
            minimumNoticeMinutes bookingWindowDays bufferBeforeMinutes bufferAfterMinutes
            maxBookingsPerDay cancellationCutoffMinutes rescheduleCutoffMinutes
            __typename }} }} }} __typename }}
        nodes {{ id __typename }} __typename }} }}""",
    # An empty page's cursors and flags.
    """query { availableSlots(first: 3, filter: {providerId: 999999}) { totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { nodeId } } }""",
    # Aliases, fragments (named and inline), directives on variables, repeated fields.
    """query($first: Int!, $yes: Boolean!, $no: Boolean!) {
        a: availableSlots(first: $first) { n: totalCount ...Page @include(if: $yes)
            nodes { ... on AvailableSlot @skip(if: $no) { when: startTime id } id }
            info: pageInfo @skip(if: $yes) { hasNextPage } }
        b: availableSlots(first: 1, filter: {available: true}) { totalCount
            edges { c: cursor node { __typename } } }
    }
    fragment Page on AvailableSlotConnection {
        pageInfo { endCursor } edges { node { provider { last: lastName id } } }
    }""",
    # The search.
    """query($first: Int!) { searchAvailableSlots(first: $first, duration: 30) {
        totalCount nodes { id durationMinutes provider { firstName } }
        pageInfo { endCursor } } }""",
    # One record, found and not (an error, data null), and __typename alone.
    f"""query($first: Int!) {{ one: availableSlot(id: 1) {{ {SLOT_FIELDS} }}
        t: availableSlot(id: 2) {{ __typename }} top: __typename
        f: availableSlots(first: $first) {{ __typename }} }}""",
    """query($first: Int!) { missing: availableSlot(id: 999999) { id }
        again: availableSlots(first: $first) { totalCount } }""",
    # Domain refusals: a bad cursor, a bad page size, a bad date.
    """query($first: Int!) { availableSlots(first: $first, after: "%%") { totalCount } }""",
    """query { availableSlots(first: 0) { totalCount } }""",
    """query($first: Int!) { searchAvailableSlots(first: $first, date: "soon") { totalCount } }""",
]
VARIABLES = {"first": 3, "yes": True, "no": False}


@pytest.fixture(name="settings")
def rendered_settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, token_cache_seconds=0)


@pytest.fixture
async def core(settings: Settings) -> AsyncIterator[Any]:
    """The same database served by graphql-core alone."""
    application = create_app(settings.model_copy(update={"graphql_compiled_plan": False}))
    yield application
    await application.state.engine.dispose()


@pytest.fixture
async def seeded(factory: Factory) -> list[Any]:
    jane = await factory.provider("Jane", 'O"Neil \\ é\n')
    omar = await factory.provider("Omar", "Haddad")
    start = future(30, minute=0)
    slots = [
        await factory.slot([jane, omar][index % 2], start=start + timedelta(hours=index))
        for index in range(5)
    ]
    # A recurring slot's pattern (the enum's name in the answer).
    weekly = await factory.slot(omar, start=start + timedelta(days=1))
    await factory.session.execute(
        update(SlotRow)
        .where(SlotRow.id == weekly.id)
        .values(recurring=True, recurrence_pattern="weekly")
    )
    await factory.session.commit()
    return [*slots, weekly]


async def post(app: Any, query: str, headers: dict[str, str]) -> tuple[int, bytes]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.post(
            GRAPHQL, json={"query": query, "variables": VARIABLES}, headers=headers
        )
    return response.status_code, response.content


def counters(app: Any) -> PlanCache:
    cache = app.state.graphql_plan
    assert isinstance(cache, PlanCache)
    return cache


def refuse_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows path of the slot resolvers fails: only rendered JSON can answer."""

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("rows read for a rendered root field")

    for name in ("list_slots", "search_slots", "get_slot"):
        monkeypatch.setattr(slot_ops, name, refuse)


@pytest.mark.parametrize("query", PAGE_SHAPES)
async def test_rendered_bytes_are_graphql_cores(
    app: Any, core: Any, auth: dict[str, str], seeded: list[Any], query: str, monkeypatch: Any
) -> None:
    expected = await post(core, query, auth)
    refuse_rows(monkeypatch)
    before = counters(app).rendered
    assert await post(app, query, auth) == expected
    if b'"data":{' in expected[1]:  # not refused before any root field answered
        assert counters(app).rendered > before
    assert counters(app).fallbacks == 0


async def test_no_token_answers_nothing_rendered(app: Any, core: Any, seeded: list[Any]) -> None:
    query = PAGE_SHAPES[0]
    assert await post(app, query, {}) == await post(core, query, {})
    assert counters(app).rendered == 0


async def test_a_failed_rendering_is_counted_and_answered(
    app: Any, core: Any, auth: dict[str, str], seeded: list[Any], monkeypatch: Any
) -> None:
    def broken(*_args: Any) -> Any:
        raise RuntimeError("statement failed")

    monkeypatch.setattr(slot_render, "_page_statement", broken)
    query = PAGE_SHAPES[0]
    assert await post(app, query, auth) == await post(core, query, auth)
    assert (counters(app).rendered, counters(app).fallbacks) == (0, 1)
    counters(app).fallbacks = 0  # expected here (the suite's check is for every other test)


async def test_a_field_not_rendered_is_counted(
    app: Any, core: Any, auth: dict[str, str], seeded: list[Any], monkeypatch: Any
) -> None:
    """A schema change the renderer does not know (here: DateTime) answers through the
    compiled plan, and shows as a fallback."""
    kinds = {k: v for k, v in rendered_module.SCALAR_KINDS.items() if k != "DateTime"}
    monkeypatch.setattr(rendered_module, "SCALAR_KINDS", kinds)
    query = PAGE_SHAPES[0]
    assert await post(app, query, auth) == await post(core, query, auth)
    assert (counters(app).rendered, counters(app).fallbacks) == (0, 1)
    counters(app).fallbacks = 0  # expected here (the suite's check is for every other test)


DEEP = """query($first: Int!) { availableSlots(first: $first) { totalCount
    pageInfo { hasNextPage endCursor } edges { cursor node { id startTime
    provider { id firstName bookingRules { minimumNoticeMinutes } } } } nodes { id } } }"""
SHALLOW = "query($first: Int!) { availableSlots(first: $first) { nodes { id } } }"


async def test_statements_constant_in_page_size_and_depth(
    app: Any, client: httpx.AsyncClient, auth: dict[str, str], factory: Factory
) -> None:
    providers = [await factory.provider(f"P{i}", "X") for i in range(10)]
    start = future(24)
    for index in range(60):
        await factory.slot(providers[index % 10], start=start + timedelta(hours=index))
    await client.post(GRAPHQL, json={"query": SHALLOW, "variables": {"first": 1}}, headers=auth)

    counts = {}
    for query in (SHALLOW, DEEP):
        for first in (5, 50):
            with counted_statements(app) as statements:
                response = await client.post(
                    GRAPHQL, json={"query": query, "variables": {"first": first}}, headers=auth
                )
            assert len(response.json()["data"]["availableSlots"]["nodes"]) == first
            # Statements reading slots (authentication may also note the token's use).
            counts[query is DEEP, first] = [s for s in statements if "available_slots" in s]
    assert counters(app).fallbacks == 0
    assert counters(app).rendered == 5
    # One statement per root field, whatever the page size and the depth of the selection.
    assert {len(reads) for reads in counts.values()} == {1}, counts


FORWARD = """query($after: String) { availableSlots(first: 2, after: $after) { totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id nodeId recurrencePattern } } } }"""
BACKWARD = """query($before: String) { availableSlots(last: 2, before: $before) { totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id nodeId recurrencePattern } } } }"""


async def post_variables(app: Any, query: str, headers: dict[str, str], **variables: Any) -> Any:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.post(
            GRAPHQL, json={"query": query, "variables": variables}, headers=headers
        )
    return response.status_code, response.content


async def test_pages_after_a_cursor_are_graphql_cores(
    app: Any, core: Any, auth: dict[str, str], seeded: list[Any], monkeypatch: Any
) -> None:
    """Each page after the first (hasPreviousPage true, startCursor its first edge's), to
    the end; the recurring slots' pattern is the enum's name."""
    expected = await post_variables(core, FORWARD, auth)
    refuse_rows(monkeypatch)
    patterns: set[Any] = set()
    cursor = None
    for _ in range(20):
        got = await post_variables(app, FORWARD, auth, after=cursor)
        assert got == expected
        page = httpx.Response(200, content=got[1]).json()["data"]["availableSlots"]
        patterns |= {edge["node"]["recurrencePattern"] for edge in page["edges"]}
        if not page["pageInfo"]["hasNextPage"]:
            break
        cursor = page["pageInfo"]["endCursor"]
        monkeypatch.undo()
        expected = await post_variables(core, FORWARD, auth, after=cursor)
        refuse_rows(monkeypatch)
    assert patterns == {None, "WEEKLY"}
    assert counters(app).fallbacks == 0


async def test_backward_pages_are_rendered_as_graphql_cores(
    app: Any, core: Any, auth: dict[str, str], seeded: list[Any], monkeypatch: Any
) -> None:
    """``last``/``before`` pages: the same bytes, from the database's JSON, to the start."""
    rendered_before = counters(app).rendered
    expected = await post_variables(core, BACKWARD, auth)
    refuse_rows(monkeypatch)
    cursor, pages = None, 0
    for _ in range(20):
        got = await post_variables(app, BACKWARD, auth, before=cursor)
        assert got == expected
        pages += 1
        page = httpx.Response(200, content=got[1]).json()["data"]["availableSlots"]
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        cursor = page["pageInfo"]["startCursor"]
        monkeypatch.undo()
        expected = await post_variables(core, BACKWARD, auth, before=cursor)
        refuse_rows(monkeypatch)
    assert pages > 1
    assert counters(app).rendered == rendered_before + pages
    assert counters(app).fallbacks == 0
