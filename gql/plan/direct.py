"""Root resolvers called the way Strawberry calls them, with the per-request work done once.

For a root field whose Strawberry field has a resolver and nothing around it (no field
extensions, no exception handler that could apply), Strawberry's own wrapper converts
the arguments (working out each one's GraphQL name and type again), builds the ``Info``
and calls the resolver. :func:`direct_call` works the names and types out when the plan
is compiled: a scalar's value is handed over as Strawberry hands it (unconverted), any
other argument goes through Strawberry's own ``convert_argument``, and the resolver gets
the same positional and keyword arguments. Anything else keeps Strawberry's wrapper.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from graphql import GraphQLField, GraphQLResolveInfo, GraphQLSchema
from strawberry.relay import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import convert_argument
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryOptional,
    StrawberryType,
    get_object_definition,
)
from strawberry.types.field import StrawberryField
from strawberry.types.lazy_type import LazyType

from gql.input_building import is_built_once

DEFINITION = "strawberry-definition"
DirectCall = Callable[[Any, GraphQLResolveInfo, dict[str, Any]], Any]


def _strawberry_field(
    schema: GraphQLSchema, field_def: GraphQLField
) -> tuple[StrawberryField, Any] | None:
    """The field's Strawberry definition, with the schema's converter, where its resolver
    has nothing around it."""
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    field = (field_def.extensions or {}).get(DEFINITION)
    if strawberry_schema is None or type(field) is not StrawberryField:
        return None
    resolver = field.base_resolver
    converter = strawberry_schema.schema_converter
    if (
        resolver is None
        or field.extensions
        or resolver.parent_parameter is not None
        or resolver.root_parameter is not None
        or converter._get_field_exception_handlers(field)
    ):
        return None
    return field, converter


def _arguments(field: StrawberryField, converter: Any) -> list[tuple[str, str, Any, bool]] | None:
    """Per argument: its GraphQL name, Python name, type and whether Strawberry hands its
    value over unconverted; None for an argument this module does not call with."""
    config = converter.config
    registry = converter.scalar_registry
    arguments = []
    for argument in field.arguments:
        type_ = argument.type
        if isinstance(type_, StrawberryMaybe):
            return None
        inner = type_.of_type if isinstance(type_, StrawberryOptional) else type_
        plain = (
            not isinstance(inner, StrawberryType)
            and inner is not GlobalID
            and is_scalar(inner, registry)
        )
        name = config.name_converter.from_argument(argument)
        arguments.append((name, argument.python_name, type_, plain))
    return arguments


# An argument's Python name, and how its value is converted (None: handed over as is).
LeanArgument = tuple[str, "Callable[[Any], Any] | None"]


def lean_arguments(
    schema: GraphQLSchema, field_def: GraphQLField
) -> dict[str, LeanArgument] | None:
    """Per GraphQL argument name: its Python name and Strawberry's own conversion of its
    value (None for a scalar's, handed over unconverted), where the resolver is called as
    :func:`direct_call` calls it and no conversion reads the request's ``Info``."""
    found = _strawberry_field(schema, field_def)
    arguments = _arguments(*found) if found is not None else None
    if found is None or arguments is None:
        return None
    converter = found[1]
    lean: dict[str, LeanArgument] = {}
    for name, python_name, type_, plain in arguments:
        if plain:
            lean[name] = (python_name, None)
            continue
        if not _without_info(type_):
            return None
        lean[name] = (
            python_name,
            partial(
                convert_argument,
                type_=type_,
                scalar_registry=converter.scalar_registry,
                config=converter.config,
                path=(name,),
            ),
        )
    return lean


def _without_info(type_: Any) -> bool:
    """Whether converting a value of ``type_`` never reads ``Info``: scalars, enums, lists
    of them and input objects built by Strawberry itself or by ``gql.input_building``."""
    while isinstance(type_, StrawberryOptional | StrawberryList):
        type_ = type_.of_type
    if isinstance(type_, StrawberryMaybe | LazyType) or type_ is GlobalID:
        return False
    definition = get_object_definition(type_)
    if definition is None:
        return True
    if definition.from_input is not None and not is_built_once(definition):
        return False
    return all(
        _without_info(field.resolve_type(type_definition=definition)) for field in definition.fields
    )


def direct_call(schema: GraphQLSchema, field_def: GraphQLField) -> DirectCall | None:
    """The resolver of ``field_def`` called as Strawberry calls it, or None where
    Strawberry's wrapper does more than that."""
    found = _strawberry_field(schema, field_def)
    arguments = _arguments(*found) if found is not None else None
    if found is None or arguments is None:
        return None
    field, converter = found
    resolver = field.base_resolver
    assert resolver is not None
    config = converter.config
    registry = converter.scalar_registry
    with_self = resolver.self_parameter is not None
    info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None
    info_class = config.info_class

    def call(source: Any, raw_info: GraphQLResolveInfo, given: dict[str, Any]) -> Any:
        info = info_class(_raw_info=raw_info, _field=field)
        kwargs: dict[str, Any] = {}
        for name, python_name, type_, plain in arguments:
            if name in given:
                value = given[name]
                kwargs[python_name] = (
                    value
                    if plain
                    else convert_argument(value, type_, registry, config, info, path=(name,))
                )
        if info_name is not None:
            kwargs[info_name] = info
        positional = [source] if with_self else []
        return field.get_result(source, info=info, args=positional, kwargs=kwargs)

    return call
