"""Inputs and root resolvers the plan handles as Strawberry would, with its work done once."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from strawberry.types.arguments import convert_argument
from strawberry.types.base import get_object_definition

from gql.schema import build_schema
from gql.slots import AvailableSlotFilter

VALUES: list[dict[str, Any]] = [
    {},
    {"providerId": 3},
    {"startDate": date(2030, 1, 2), "endDate": date(2030, 1, 9)},
    {"providerId": None, "startDate": None, "endDate": None, "available": None},
    {"available": False, "appointmentType": "intake", "providerId": 0},
    {
        "providerId": 7,
        "startDate": date(2031, 5, 1),
        "endDate": None,
        "available": True,
        "appointmentType": None,
    },
]


@pytest.mark.parametrize("value", VALUES)
def test_filter_built_as_strawberry_builds_it(value: dict[str, Any]) -> None:
    schema = build_schema()
    definition = get_object_definition(AvailableSlotFilter, strict=True)
    built_once = definition.from_input
    assert built_once is not None

    def convert() -> Any:
        return convert_argument(
            value, AvailableSlotFilter, schema.schema_converter.scalar_registry, schema.config
        )

    fast = convert()
    definition.from_input = None
    try:
        reference = convert()
    finally:
        definition.from_input = built_once
    assert type(fast) is AvailableSlotFilter
    assert vars(fast) == vars(reference)


def test_rendered_roots_are_called_directly() -> None:
    """Every root field the database renders has nothing around its resolver, so the plan
    calls it as Strawberry would (the rendered tests compare the replies)."""
    from gql.plan.direct import direct_call
    from gql.plan.rendered import ROOTS

    schema = build_schema()._schema
    query = schema.query_type
    assert query is not None
    for name in ROOTS:
        assert direct_call(schema, query.fields[name]) is not None, name
