"""Every element of the served schema carries a description (GraphiQL's docs pane)."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
)

from gql.schema import build_schema


def undescribed(schema: GraphQLSchema) -> list[str]:
    """Coordinates (``Type``, ``Type.field``, ``Type.field(arg:)``, ``Enum.VALUE``) without
    a description, built-in types aside."""
    missing: list[str] = []
    for name, type_ in sorted(schema.type_map.items()):
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        if not (type_.description or "").strip():
            missing.append(name)
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in type_.fields.items():
                if not (field.description or "").strip():
                    missing.append(f"{name}.{field_name}")
                missing.extend(
                    f"{name}.{field_name}({arg_name}:)"
                    for arg_name, arg in field.args.items()
                    if not (arg.description or "").strip()
                )
        elif isinstance(type_, GraphQLInputObjectType):
            missing.extend(
                f"{name}.{field_name}"
                for field_name, field in type_.fields.items()
                if not (field.description or "").strip()
            )
        elif isinstance(type_, GraphQLEnumType):
            missing.extend(
                f"{name}.{value_name}"
                for value_name, value in type_.values.items()
                if not (value.description or "").strip()
            )
    return missing


def test_every_schema_element_has_a_description():
    assert undescribed(build_schema()._schema) == []


def test_the_check_finds_an_undescribed_element():
    from graphql import build_schema as from_sdl

    schema = from_sdl('"Reads." type Query { "Described." a(x: Int): Int, b: Int }')
    assert undescribed(schema) == ["Query.a(x:)", "Query.b"]
