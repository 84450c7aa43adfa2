"""Root fields the fast lane answers from the domain's renderer alone (``gql.plan.lean``)
answer as the full stack does, byte for byte, and the lane counts what it took."""

from __future__ import annotations

from typing import Any

import orjson

from common.settings import Settings
from models.platform.sessions import _idle
from tests.factories import Factory, future
from tests.lanes import comparable, lane_and_full, send

SLOT = "id providerId startTime endTime available recurrencePattern provider { id lastName }"
ONE = f"query One($id: Int!) {{ availableSlot(id: $id) {{ {SLOT} }} }}"


def _lean(app: Any) -> int:
    fast = getattr(app.state, "graphql_fast", None)
    return fast.lean_answered if fast is not None else 0


def _json(query: str, variables: dict[str, Any] | None = None, **more: Any) -> bytes:
    return orjson.dumps({"query": query, "variables": variables, **more})


async def test_lean_roots_answer_as_the_full_stack(settings: Settings, factory: Factory) -> None:
    cached = settings.model_copy(update={"token_cache_seconds": 60})
    async with lane_and_full(cached) as (lane, full):
        provider = await factory.provider(last_name="Lean")
        slot = await factory.slot(provider, start=future(30))
        admin = {"X-User-Token": await factory.token(), "content-type": "application/json"}
        taken = [
            _json(ONE, {"id": slot.id}),
            _json(f"{{ availableSlot(id: {slot.id}) {{ {SLOT} }} }}"),  # a literal
            _json(
                "query Two($s: Int!, $p: Int!) { first: availableSlot(id: $s) { id } "
                "__typename who: provider(id: $p) { __typename id firstName } "
                "again: availableSlot(id: $s) { endTime } }",
                {"s": slot.id, "p": provider.id},
            ),
            _json(
                "query Cond($id: Int!, $more: Boolean!) { availableSlot(id: $id) "
                "{ id provider @include(if: $more) { lastName } } }",
                {"id": slot.id, "more": False},
            ),
        ]
        taken.append(
            _json(
                "query S($p: Int, $d: Date, $n: Int) { searchAvailableSlots(providerId: $p, "
                "date: $d, duration: $n, first: 5) { totalCount pageInfo { hasNextPage "
                "endCursor } edges { cursor node { id startTime } } } }",
                {"p": provider.id, "d": str(slot.start_time.date()), "n": 30},
            )
        )
        day = str(slot.start_time.date())
        week = (
            "query W($f: AvailableSlotFilter, $n: Int) { availableSlots(first: $n, filter: $f) "
            "{ totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }"
        )
        taken += [
            # An input object, given by a variable and as a literal.
            _json(week, {"f": {"startDate": day, "endDate": day, "providerId": provider.id}}),
            _json(week, {"n": 1}),
            _json(
                f'{{ availableSlots(filter: {{ startDate: "{day}", available: true }}) '
                "{ nodes { id startTime } } }"
            ),
        ]
        left = [
            # A refusal of the filter (a range ending before it starts): the view writes it.
            _json(week, {"f": {"startDate": day, "endDate": "2000-01-01"}}),
            _json(
                "query S($d: Date) { searchAvailableSlots(date: $d, first: 0) { totalCount } }",
                {"d": "2030-01-01"},
            ),  # a refusal (first below one): the view writes it
            _json(ONE, {"id": 999_999}),  # not found: an error the view writes
            _json(ONE, {}),  # a required variable left out
            _json(ONE, {"id": "x"}),
            _json(ONE, {"id": None}),
        ]
        on = cached.graphql_rendered_json and cached.graphql_compiled_plan
        for body in taken + left:
            for _ in range(3):  # the first sight compiles, the second prepares
                expected = comparable(
                    await send(full, "POST", "/graphql", content=body, headers=admin)
                )
                before = _lean(lane)
                answered = comparable(
                    await send(lane, "POST", "/graphql", content=body, headers=admin)
                )
                assert answered == expected, body
            if body in taken:
                assert b'"errors"' not in answered[2]
            if on:
                assert _lean(lane) - before == (1 if body in taken else 0), body
        if not on:
            assert getattr(lane.state, "graphql_fast", None) is None
            return
        fast: Any = lane.state.graphql_fast
        # The refusal reached the lean roots and was left to the view; the others never
        # got past the variables' coercion.
        assert fast.lean_declined >= 3
        assert lane.state.graphql_plan.fallbacks == 0


async def test_a_root_without_a_renderer_is_not_lean(settings: Settings, factory: Factory) -> None:
    cached = settings.model_copy(update={"token_cache_seconds": 60})
    async with lane_and_full(cached) as (lane, _full):
        provider = await factory.provider()
        await factory.slot(provider, start=future(30))
        admin = {"X-User-Token": await factory.token(), "content-type": "application/json"}
        page = _json(
            "query P($first: Int) { providers(first: $first) { nodes { id } } }", {"first": 2}
        )
        mixed = _json(
            "query M($id: Int!) { providers { nodes { id } } provider(id: $id) { id } }",
            {"id": provider.id},
        )
        for body in (page, mixed):
            for _ in range(3):
                reply = await send(lane, "POST", "/graphql", content=body, headers=admin)
                assert reply.status_code == 200 and "errors" not in reply.json()
        fast: Any = getattr(lane.state, "graphql_fast", None)
        if not (cached.graphql_rendered_json and cached.graphql_compiled_plan):
            assert fast is None
            return
        assert fast.answered >= 4 and fast.lean_answered == 0
        # graphql-core's executor may leave a field's task running past an error: a
        # session it ran with is never handed to another request.
        assert not _idle.get(lane.state.sessionmaker)
        one = _json("query O($id: Int!) { provider(id: $id) { id } }", {"id": provider.id})
        for _ in range(3):
            await send(lane, "POST", "/graphql", content=one, headers=admin)
        assert fast.lean_answered == 1 and len(_idle[lane.state.sessionmaker]) == 1
