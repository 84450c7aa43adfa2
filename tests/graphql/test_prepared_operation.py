"""Executors the fast lane builds from a prepared operation hold what graphql-core's
``Executor.build`` gives for the same variables; where it reports errors or fills a
default, the prepared operation declines and ``Executor.build`` answers."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import Undefined, parse
from graphql.execution.executor import Executor
from hypothesis import given, settings
from hypothesis import strategies as st

import gql.plan.prepared as prepared_module
from gql.plan.prepared import PreparedOperation
from gql.schema import build_schema

DOCUMENT = """
query Page($first: Int, $filter: AvailableSlotFilter, $id: Int!, $with: Boolean = true) {
  availableSlots(first: $first, filter: $filter) { totalCount ...Edges }
  availableSlot(id: $id) { id provider @include(if: $with) { id } }
}
fragment Edges on AvailableSlotConnection { edges { cursor } }
"""
CASES: list[dict[str, Any] | None] = [
    {"id": 1},
    {"id": 7, "first": 50},
    {"id": 7, "first": None, "filter": None},
    {"id": 7, "filter": {"startDate": "2030-01-02", "endDate": "2030-01-09"}},
    {"id": 7, "filter": {"providerId": 3, "available": False, "appointmentType": "x"}},
    {"id": 7, "with": False},
    {"id": 7, "with": None},
    {"id": 7, "unknown": 1},
    {"id": 2**31},
    {"id": "7"},
    {"id": 7.0},
    {"id": True},
    {"id": None},
    {},
    None,
    {"id": 7, "filter": {"startDate": "not a day"}},
    {"id": 7, "filter": {"nope": 1}},
    {"id": 7, "filter": [1]},
    {"id": 7, "first": "50"},
]


@pytest.mark.parametrize("variables", CASES)
def test_prepared_as_built(variables: dict[str, Any] | None) -> None:
    schema = build_schema()._schema
    document = parse(DOCUMENT)
    first = Executor.build(schema, document, None, None, {"id": 1}, None)
    assert isinstance(first, Executor)
    prepared = PreparedOperation.of(first)
    assert prepared is not None
    context = object()
    built = Executor.build(schema, document, None, context, variables, None)
    fast = prepared.executor(context, variables)
    if fast is None:
        # Declined: only where graphql-core reports errors or fills a default.
        assert isinstance(built, list) or "with" not in (variables or {})
        return
    assert isinstance(built, Executor)
    assert fast.variable_values.coerced == built.variable_values.coerced
    assert _sources(fast) == _sources(built)
    assert fast.operation is built.operation
    assert fast.fragments.keys() == built.fragments.keys()
    assert fast.fragment_definitions == built.fragment_definitions
    assert fast.context_value is context
    assert fast.root_value is None
    assert fast.error_propagation == built.error_propagation
    assert fast.hide_suggestions == built.hide_suggestions


def _sources(executor: Executor) -> dict[str, Any]:
    """Each variable's source: its signature's name, type and whether it has a default
    (type wrappers and defaults are objects of their own per build), and the value."""
    return {
        name: (
            source.signature.name,
            str(source.signature.type),
            source.signature.default is None,
            source.value,
        )
        for name, source in executor.variable_values.sources.items()
    }


SCALARS_DOCUMENT = """
query S($i: Int, $s: String!, $b: Boolean, $d: ID, $f: Float, $l: [Int!]) {
  availableSlot(id: 1) { id }
}
"""
SCALAR_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**33), max_value=2**33),
    st.floats(allow_nan=True),
    st.text(max_size=4),
    st.lists(st.integers(-3, 3), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["i", "s", "b", "d", "f", "l"]), SCALAR_VALUE))
def test_values_are_the_coerced_values(variables: dict[str, Any]) -> None:
    """``values`` (what the lean roots read) equals what ``Executor.build`` coerces, and
    declines exactly where it reports an error."""
    schema = build_schema()._schema
    document = parse(SCALARS_DOCUMENT)
    first = Executor.build(schema, document, None, None, {"s": "x"}, None)
    assert isinstance(first, Executor)
    prepared = PreparedOperation.of(first)
    assert prepared is not None
    built = Executor.build(schema, document, None, None, variables, None)
    values = prepared.values(variables)
    if isinstance(built, list):
        assert values is None
        return
    assert values is not None
    assert values == built.variable_values.coerced
    assert {k: type(v) for k, v in values.items()} == {
        k: type(v) for k, v in built.variable_values.coerced.items()
    }


def test_plain_scalars_are_taken_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """An Int within 32 bits, a String, a Boolean and an ID string are not coerced again."""
    schema = build_schema()._schema
    first = Executor.build(schema, parse(SCALARS_DOCUMENT), None, None, {"s": "x"}, None)
    assert isinstance(first, Executor)
    prepared = PreparedOperation.of(first)
    assert prepared is not None
    calls: list[tuple[Any, ...]] = []

    def coerce(*args: Any) -> Any:
        calls.append(args)
        return Undefined

    monkeypatch.setattr(prepared_module, "coerce_input_value", coerce)
    plain = {"i": 2**31 - 1, "s": "é", "b": False, "d": "7"}
    assert prepared.values(plain) == plain
    assert calls == []
    assert prepared.values({"s": "x", "i": 2**31}) is None  # out of range: coerced (refused)
    assert len(calls) == 1
