"""The compiled query plan answers exactly as graphql-core does.

Random selection sets over every query root field (subsets of fields, aliases, inline
and named fragments, ``__typename``, ``@include``/``@skip`` with variables, arguments that
succeed and arguments the resolvers refuse) run on seeded data through two applications
on one database, one with the plan and one without; the JSON bodies must be equal.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry.schema.schema as strawberry_schema
from graphql import GraphQLObjectType, get_named_type, is_object_type, is_required_argument
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from sqlalchemy import text

import gql.plan.extension as plan_extension
from clinic_availability.app import create_app
from common.settings import Settings
from gql.plan.extension import PlanCache
from gql.schema import build_schema
from models.booking.bookings import BookingInput, cancel_booking, create_booking
from models.platform.db import create_engine
from models.platform.sessions import create_sessionmaker
from models.platform.users import create_user
from models.scheduling import people
from models.scheduling.series import RecurrenceLimits, create_slot
from models.scheduling.slots import SlotInput, create_single_slot
from tests.factories import future, iso
from tests.graphql.helpers import GRAPHQL, SLOT_FIELDS

SCHEMA = build_schema()._schema
MAX_DEPTH = 4
SHOW = False
# Hypothesis's own example database (failures found once are tried first next time), and
# a random search on every run, CI included (whose default profile would derandomize).
PLAN_EXAMPLES = settings(
    max_examples=int(os.environ.get("PLAN_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=False,
    database=DirectoryBasedExampleDatabase(
        Path(__file__).resolve().parents[2] / ".hypothesis" / "examples"
    ),
)


def root_arguments() -> dict[str, list[str]]:
    """Arguments for each root field: mostly answers, some domain errors."""
    today = datetime.now(UTC).date()
    start = future(24)
    window = f'startDate: "{today}", endDate: "{today + timedelta(days=10)}"'
    preview = (
        f'input: {{providerId: 1, startTime: "{iso(start)}", '
        f'endTime: "{iso(start + timedelta(minutes=30))}"}}'
    )
    known = {
        "availableSlots": [
            "",
            "(first: 3)",
            "(first: 0)",
            "(filter: {providerId: 1})",
            "(last: 2)",
            "(first: 1, last: 1)",
        ],
        "searchAvailableSlots": ["", "(providerId: 1, duration: 30)", '(date: "soon")'],
        "availableSlot": ["(id: 1)", "(id: 999)"],
        "providers": ["", "(first: 1)", "(active: true)", "(last: 1)"],
        "provider": ["(id: 1)", "(id: 999)"],
        "patients": ["", "(first: 1)"],
        "patient": ["(id: 2)", "(id: 999)"],
        "books": [
            "",
            "(first: 2)",
            "(filter: {status: CONFIRMED})",
            '(after: "%%")',
            "(last: 1)",
            '(before: "%%")',
        ],
        "book": ["(id: 1)", "(id: 2)", "(id: 999)"],
        "utilization": [f"({window})", '(startDate: "x", endDate: "y")'],
        "slotSeries": ["(id: 1)", "(id: 1, upcoming: 2)", "(id: 1, upcoming: 500)", "(id: 9)"],
        "providerAvailableSlots": [
            "",
            "(first: 2, slotsPerProvider: 2)",
            "(last: 1)",
            "(slotsPerProvider: 0)",
        ],
        "appointmentTypes": ["", "(active: true)", "(active: false)"],
        "appointmentType": ['(key: "therapy")', '(key: "nope")'],
        "availableSlotPreview": [f"({preview})"],
    }
    # Root fields added later are generated too when they need no argument.
    query_type = SCHEMA.query_type
    assert query_type is not None
    for name, field in query_type.fields.items():
        required = any(is_required_argument(argument) for argument in field.args.values())
        if name not in known and not required and is_object_type(get_named_type(field.type)):
            known[name] = [""]
    return known


DIRECTIVES = (
    "",
    "",
    "",
    " @include(if: $yes)",
    " @skip(if: $no)",
    " @skip(if: $yes)",
    " @include(if: false)",
)


class Document:
    def __init__(self, draw: Any) -> None:
        self.draw = draw
        self.fragments: list[str] = []

    def selection(self, type_: GraphQLObjectType, depth: int) -> str:
        names = sorted(type_.fields)
        if depth >= MAX_DEPTH:
            names = [n for n in names if not is_object_type(get_named_type(type_.fields[n].type))]
        chosen = self.draw(
            st.lists(st.sampled_from(names or ["__typename"]), max_size=4, unique=True)
        )
        parts = [self.field(type_, name, depth) for name in chosen]
        if not parts or self.draw(st.booleans()):
            parts.append("__typename")
        wrap = self.draw(st.sampled_from(("none", "none", "inline", "untyped", "named")))
        split = self.draw(st.integers(0, len(parts) - 1))
        inner, parts = " ".join(parts[split:]), parts[:split]
        if wrap == "inline":
            parts.append(
                f"... on {type_.name}{self.draw(st.sampled_from(DIRECTIVES))} {{ {inner} }}"
            )
        elif wrap == "untyped":
            parts.append(f"... {{ {inner} }}")
        elif wrap == "named":
            name = f"F{len(self.fragments)}"
            self.fragments.append(f"fragment {name} on {type_.name} {{ {inner} }}")
            parts.append(f"...{name}{self.draw(st.sampled_from(DIRECTIVES))}")
        else:
            parts.append(inner)
        return " ".join(parts)

    def field(self, type_: GraphQLObjectType, name: str, depth: int) -> str:
        if name == "__typename":
            return name
        text = name
        if self.draw(st.booleans()):
            text = f"{name}{self.draw(st.sampled_from((1, 2)))}: {name}"
        text += self.draw(st.sampled_from(DIRECTIVES))
        named = get_named_type(type_.fields[name].type)
        if isinstance(named, GraphQLObjectType):
            text += f" {{ {self.selection(named, depth + 1)} }}"
        return text


@st.composite
def operations(draw: Any) -> tuple[str, dict[str, bool]]:
    arguments = root_arguments()
    query_type = SCHEMA.query_type
    assert query_type is not None
    document = Document(draw)
    roots = draw(st.lists(st.sampled_from(sorted(arguments)), min_size=1, max_size=2))
    parts = []
    for index, name in enumerate(roots):
        args = draw(st.sampled_from(arguments[name]))
        directive = draw(st.sampled_from(DIRECTIVES))
        named = get_named_type(query_type.fields[name].type)
        assert isinstance(named, GraphQLObjectType)
        parts.append(f"r{index}: {name}{args}{directive} {{ {document.selection(named, 2)} }}")
    body = " ".join(parts)
    text = body + " ".join(document.fragments)
    declared = [f"${v}: Boolean!" for v in ("yes", "no") if f"${v}" in text]
    header = f"query Q({', '.join(declared)})" if declared else "query Q"
    query = f"{header} {{ {body} }} {' '.join(document.fragments)}"
    variables = {"yes": draw(st.booleans()), "no": draw(st.booleans())}
    return query, {name: value for name, value in variables.items() if f"${name}" in text}


async def _seed(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            _user, token = await create_user(session, role="admin", first_name="F", last_name="Z")
            # Providers with matching lists.
            matching = {"languages": ["en", "pt-BR"], "licensed_states": ["CA", "NY"]}
            providers = [
                await people.create_provider(
                    session, first_name=f"P{i}", last_name="Q", matching=matching if i else None
                )
                for i in range(3)
            ]
            patients = [
                await people.create_patient(session, first_name=f"A{i}", last_name="B")
                for i in range(2)
            ]
            start = future(30)
            await create_slot(
                session,
                SlotInput(
                    provider_id=providers[0].id,
                    start_time=start,
                    end_time=start + timedelta(minutes=45),
                    appointment_type="therapy",
                    recurring=True,
                    recurrence_pattern="daily",
                ),
                limits=RecurrenceLimits(horizon_days=5),
            )
            slots = []
            for index in range(6):
                begin = future(50 + index * 3)
                slots.append(
                    await create_single_slot(
                        session,
                        SlotInput(
                            provider_id=providers[index % 3].id,
                            start_time=begin,
                            end_time=begin + timedelta(minutes=30),
                            **({"appointment_type": "assessment"} if index % 2 else {}),
                        ),
                    )
                )
            for index, slot in enumerate(slots[:3]):
                await create_booking(
                    session,
                    BookingInput(
                        available_slot_id=slot.id,
                        patient_id=patients[index % 2].id,
                        notes=f"note {index}",
                    ),
                )
            await cancel_booking(session, 2, reason="moved")
            return token
    finally:
        await engine.dispose()


# The applications compared: rendered JSON, the compiled plan alone, graphql-core alone.
MODES = ((True, True), (True, False), (False, False))


class Pair:
    """Applications on one database: with the plan rendering JSON, with the plan
    completing objects, and with graphql-core only."""

    def __init__(self, database_url: str, token: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.headers = {"X-User-Token": token}
        self.apps = [
            create_app(
                Settings(
                    database_url=database_url,
                    graphql_compiled_plan=plan,
                    graphql_rendered_json=render,
                    token_cache_seconds=5,
                )
            )
            for plan, render in MODES
        ]
        self.clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
            for app in self.apps
        ]

    def post(
        self, query: str, variables: dict[str, Any], only: int | None = None
    ) -> list[tuple[int, Any]]:
        replies = self.post_raw(query, variables, only)
        return [(status, json.loads(body)) for status, body in replies]

    def post_raw(
        self, query: str, variables: dict[str, Any], only: int | None = None
    ) -> list[tuple[int, bytes]]:
        """Status and body bytes from each application (or only the one given)."""
        clients = self.clients if only is None else [self.clients[only]]

        async def each() -> list[tuple[int, bytes]]:
            replies = []
            for client in clients:
                response = await client.post(
                    GRAPHQL, json={"query": query, "variables": variables}, headers=self.headers
                )
                replies.append((response.status_code, response.content))
            return replies

        return self.loop.run_until_complete(each())

    def plan(self, index: int = 0) -> PlanCache:
        cache = self.apps[index].state.graphql_plan
        assert isinstance(cache, PlanCache)
        return cache

    def notes_reads(self) -> Counter[int]:
        """Notes-read audit entries per booking id."""

        async def read() -> Counter[int]:
            async with self.apps[0].state.sessionmaker() as session:
                rows = await session.execute(
                    text(
                        "SELECT entity_id, changed_fields FROM audit_log"
                        " WHERE action = 'read_notes'"
                    )
                )
                # One entry per read: its booking, or (several) ``booking:<id>`` fields.
                counts: Counter[int] = Counter()
                for entity_id, fields in rows:
                    if entity_id is not None:
                        counts[int(entity_id)] += 1
                        continue
                    if isinstance(fields, str):
                        fields = json.loads(fields)
                    counts.update(
                        int(name.split(":", 1)[1]) for name in fields if name.startswith("booking:")
                    )
                return counts

        return self.loop.run_until_complete(read())

    def close(self) -> None:
        async def close() -> None:
            for client in self.clients:
                await client.aclose()
            for app in self.apps:
                await app.state.engine.dispose()

        self.loop.run_until_complete(close())
        self.loop.close()


@pytest.fixture
def pair(database_url: str) -> Iterator[Pair]:
    token = asyncio.run(_seed(database_url))
    served = Pair(database_url, token)
    yield served
    served.close()


@pytest.fixture
def plan_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the operations the plan answered."""
    runs: list[int] = []
    original = plan_extension.run_plan

    async def counted(*args: Any) -> Any:
        runs.append(1)
        return await original(*args)

    monkeypatch.setattr(plan_extension, "run_plan", counted)
    return runs


def test_plan_and_graphql_core_answer_alike(pair: Pair, plan_runs: list[int]) -> None:
    errors_seen: list[bool] = []

    @PLAN_EXAMPLES
    @given(operation=operations())
    def compare(operation: tuple[str, dict[str, bool]]) -> None:
        query, variables = operation
        rendered, planned, core = pair.post_raw(query, variables)
        # The same bytes: rendered JSON, the plan's objects and graphql-core's.
        assert rendered == core, query
        assert planned == core, query
        # Once compiled, a rendered query is answered without the view: the same again.
        assert pair.post_raw(query, variables, only=0) == [core], query
        if SHOW:
            print(query, variables, core)
        errors_seen.append(b'"errors"' in core[1])

    compare()
    cache = pair.plan()
    print(
        f"\nplan comparison: {len(errors_seen)} operations, {sum(errors_seen)} with errors, "
        f"{len(plan_runs)} answered by the plan, {cache.rendered} root fields rendered"
    )
    # The plan answered most operations, and both answers and errors were compared.
    assert len(plan_runs) > len(errors_seen) // 2
    assert any(errors_seen) and not all(errors_seen)
    # Every rendered root field in every generated shape was rendered: none fell back.
    assert cache.rendered > 10
    assert cache.fallbacks == 0
    assert pair.plan(1).rendered == 0
    assert pair.apps[0].state.graphql_fast.answered > 5


def test_notes_read_audit_as_with_graphql_core(pair: Pair) -> None:
    """The planned query keeps the resolvers' side effect: the same notes-read entries."""
    query = "query Q { r0: books { nodes { id notes } } r1: book(id: 1) { notes } }"
    before = pair.notes_reads()
    [planned] = pair.post(query, {}, only=0)
    after_planned = pair.notes_reads()
    [core] = pair.post(query, {}, only=2)
    after_core = pair.notes_reads()
    assert planned == core
    assert planned[1]["data"]["r1"] == {"notes": "note 0"}
    planned_reads, core_reads = after_planned - before, after_core - after_planned
    assert planned_reads == core_reads
    assert set(planned_reads) == {1, 2, 3}


@pytest.fixture
async def planned_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"graphql_compiled_plan": True}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await app.state.engine.dispose()


async def test_list_page_never_reaches_graphql_core(
    planned_client: httpx.AsyncClient,
    auth: dict[str, str],
    factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slot = await factory.slot()

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("graphql-core executed a planned query")

    monkeypatch.setattr(strawberry_schema, "execute", refuse)
    query = f"{{ availableSlots(first: 50) {{ totalCount nodes {{ {SLOT_FIELDS} }} }} }}"
    response = await planned_client.post(GRAPHQL, json={"query": query}, headers=auth)
    body = response.json()
    assert body["data"]["availableSlots"]["totalCount"] == 1
    assert body["data"]["availableSlots"]["nodes"][0]["id"] == slot.id
    assert body["data"]["availableSlots"]["nodes"][0]["startTime"].endswith(".000Z")
