"""Every field of a rendered record kind is rendered: a field added to a GraphQL type and
not to its record would send every query selecting it down the rows path."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType

from common.settings import Settings
from gql.plan.rendered import DEFINITION, ROOTS
from gql.schema import build_schema
from models.platform.record_render import Record


def _named(type_: Any) -> Any:
    while isinstance(type_, (GraphQLNonNull, GraphQLList)):
        type_ = type_.of_type
    return type_


def _unrendered(type_: GraphQLObjectType, record: Record, path: str) -> list[str]:
    missing: list[str] = []
    for name, field in type_.fields.items():
        if field.args:
            continue  # declined by design: arguments below the root are read as rows
        python_name = field.extensions[DEFINITION].python_name
        named = _named(field.type)
        if isinstance(named, GraphQLObjectType):
            nested = record.objects.get(python_name)
            if nested is None:
                missing.append(f"{path}.{name}")
            else:
                missing.extend(_unrendered(named, nested[0], f"{path}.{name}"))
        elif python_name not in record.values:
            missing.append(f"{path}.{name}")
    return missing


@pytest.mark.parametrize("root", sorted(ROOTS))
def test_every_field_of_a_rendered_root_is_rendered(root: str) -> None:
    schema = build_schema(Settings())._schema
    query = schema.query_type
    assert query is not None
    record, _is_list = ROOTS[root]
    named = _named(query.fields[root].type)
    assert isinstance(named, GraphQLObjectType)
    assert _unrendered(named, record, root) == []
