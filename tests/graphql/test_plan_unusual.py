"""Values the fast completion does not take: graphql-core's errors and null propagation.

A small schema whose resolvers return what the service's never should (a null for a
non-null field, an out-of-range Int, a list that is a generator, a failing field
resolver) answers the same with the plan as without it.
"""

from __future__ import annotations

from typing import Any

import pytest
import strawberry

from gql.plan import compiled_plan_extension
from gql.schema import ClinicSchema
from gql.serial import SerialRootFields


@strawberry.type
class Leaf:
    id: int
    name: str
    score: float | None = None

    @strawberry.field
    def label(self) -> str:
        if self.id == 13:
            raise ValueError("unlucky")
        return f"#{self.id}"


@strawberry.type
class Holder:
    required: Leaf
    optional: Leaf | None
    leaves: list[Leaf]
    maybe_leaves: list[Leaf | None] | None


def _leaf(ident: Any, name: Any = "n") -> Leaf:
    return Leaf(id=ident, name=name)


@strawberry.type
class Query:
    @strawberry.field
    async def good(self) -> Holder:
        return Holder(
            required=_leaf(1), optional=None, leaves=[_leaf(2), _leaf(3)], maybe_leaves=None
        )

    @strawberry.field
    async def bad(self, kind: str) -> Holder | None:
        values: dict[str, Holder] = {
            "null": Holder(required=None, optional=None, leaves=[], maybe_leaves=None),  # type: ignore[arg-type]
            "big": Holder(required=_leaf(2**40), optional=None, leaves=[], maybe_leaves=None),
            "text": Holder(required=_leaf("7"), optional=_leaf(1, 5), leaves=[], maybe_leaves=None),
            "item": Holder(
                required=_leaf(1),
                optional=None,
                leaves=[_leaf(1), None],  # type: ignore[list-item]
                maybe_leaves=[_leaf(1), None, _leaf(None)],
            ),
            "generator": Holder(
                required=_leaf(1),
                optional=None,
                leaves=(_leaf(i) for i in range(2)),  # type: ignore[arg-type]
                maybe_leaves=None,
            ),
            "raises": Holder(required=_leaf(13), optional=_leaf(13), leaves=[], maybe_leaves=None),
        }
        return values[kind]

    @strawberry.field
    async def fails(self) -> Holder:
        raise RuntimeError("resolver failed")


def _schema(plan: bool) -> strawberry.Schema:
    extensions: list[Any] = [SerialRootFields]
    if plan:
        extensions.append(compiled_plan_extension(16))
    return ClinicSchema(query=Query, extensions=extensions)


SELECTION = """
  required { id name label score }
  optional { id name label }
  leaves { id label }
  maybeLeaves { id }
"""
QUERIES = [
    f"{{ good {{ {SELECTION} }} }}",
    *(
        f'{{ b: bad(kind: "{kind}") {{ {SELECTION} }} g: good {{ required {{ id }} }} }}'
        for kind in ("null", "big", "text", "item", "generator", "raises")
    ),
    f"{{ good {{ required {{ id }} }} fails {{ {SELECTION} }} }}",
    f"{{ fails {{ {SELECTION} }} good {{ required {{ id }} }} }}",
]


@pytest.mark.parametrize("query", QUERIES)
async def test_unusual_values_answer_as_graphql_core(query: str) -> None:
    planned = await _schema(plan=True).execute(query)
    core = await _schema(plan=False).execute(query)
    assert planned.data == core.data
    assert [error.formatted for error in planned.errors or []] == [
        error.formatted for error in core.errors or []
    ]
    assert [repr(error.original_error) for error in planned.errors or []] == [
        repr(error.original_error) for error in core.errors or []
    ]


async def test_the_plan_answers_these_queries() -> None:
    factory = compiled_plan_extension(16)
    schema = ClinicSchema(query=Query, extensions=[factory])
    for query in QUERIES:
        await schema.execute(query)
    assert factory.cache.runs == len(QUERIES)  # type: ignore[attr-defined]
