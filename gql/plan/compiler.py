"""Compiling one query operation into completion functions over the resolvers' objects.

graphql-core collects the fields (fragments, ``@include``/``@skip``) with the request's
own variable values, so a compiled operation holds for every request whose condition
variables have the same values. Each object selection becomes one function that reads
the Strawberry fields' attributes and builds the response dictionary; leaves are coerced
with the schema's own scalar and enum coercers (with a shortcut for values the built-in
scalars return unchanged).

A completion function raises on anything unusual (a null where the schema forbids one,
a value a scalar cannot represent, something that is not a list): the caller then
completes that root field with graphql-core itself, which reports the error exactly.
Completion only reads data already loaded, so doing it again is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from keyword import iskeyword
from math import isfinite
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLField,
    GraphQLFloat,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    Undefined,
    is_enum_type,
    is_non_null_type,
    is_object_type,
    is_scalar_type,
)
from graphql.execution.collect_fields import (
    FieldDetailsList,
    collect_fields,
    collect_subfields,
)
from graphql.execution.executor import Executor, to_nodes
from graphql.language import FieldNode

from gql.plan.direct import DirectCall, direct_call
from gql.plan.lean import LeanRoot, lean_roots
from gql.plan.rendered import ROOTS, NotRendered, root_picks
from models.platform.record_render import Picks

logger = logging.getLogger("clinic_availability.graphql.plan")

Complete = Callable[[Any], Any]
DEFINITION = "strawberry-definition"
MIN_INT = -2_147_483_648
MAX_INT = 2_147_483_647


class NotPlannable(Exception):
    """The operation needs graphql-core's own execution (decided before running it)."""


class Unusual(Exception):
    """A value the fast completion does not take: graphql-core completes it instead."""


@dataclass(frozen=True, slots=True)
class RootField:
    key: str
    field_def: GraphQLField | None  # None for __typename
    details: FieldDetailsList
    nodes: list[FieldNode]
    complete: Complete
    has_args: bool
    # The domain renders this root field's JSON in these picks (see ``gql.plan.rendered``).
    picks: Picks | None = None
    # A root field the domain renders, in a selection it does not: counted as a fallback.
    declined: bool = False
    # The root resolver called as Strawberry calls it (see ``gql.plan.direct``), where
    # nothing else wraps it; None: through Strawberry's wrapper.
    direct: DirectCall | None = None


@dataclass(frozen=True, slots=True)
class CompiledOperation:
    root_type: GraphQLObjectType
    roots: tuple[RootField, ...]
    # The roots as the fast lane calls them without an executor (``gql.plan.lean``), where
    # every one can be.
    lean: tuple[LeanRoot, ...] | None = None


def compile_operation(
    schema: GraphQLSchema, executor: Executor, *, render: bool = False
) -> CompiledOperation:
    """The plan of the executor's operation under its variable values; with ``render``,
    root fields the domain renders as JSON get their picks."""
    return _Compiler(schema, executor, render).operation()


class _Compiler:
    def __init__(self, schema: GraphQLSchema, executor: Executor, render: bool) -> None:
        self.schema = schema
        self.executor = executor
        self.render = render

    def operation(self) -> CompiledOperation:
        root_type = self.schema.query_type
        if root_type is None:
            raise NotPlannable("no query type")
        executor = self.executor
        collected = collect_fields(
            self.schema,
            executor.fragments,
            executor.variable_values,
            root_type,
            executor.operation,
        )
        if collected.new_defer_usages:
            raise NotPlannable("@defer")
        roots: list[RootField] = []
        for key, details in collected.grouped_field_set.items():
            node = details[0].node
            name = node.name.value
            nodes = to_nodes(details)
            if name == "__typename":
                roots.append(RootField(key, None, details, nodes, _identity, False))
                continue
            field_def = root_type.fields.get(name)
            if field_def is None or name.startswith("__"):
                raise NotPlannable(f"root field {name}")
            picks, declined = None, False
            if self.render and name in ROOTS:
                try:
                    picks = root_picks(self.schema, executor, field_def.type, details)
                except NotRendered as reason:
                    logger.info("root field %s not rendered: %s", name, reason)
                    declined = True
            try:
                complete = self.value(field_def.type, details)
            except NotPlannable:
                if picks is None:
                    raise
                # Rendered, with fields the plan cannot complete (resolvers of their
                # own): should rows answer instead, graphql-core completes them.
                complete = _unusual
            roots.append(
                RootField(
                    key,
                    field_def,
                    details,
                    nodes,
                    complete,
                    bool(field_def.args or node.arguments),
                    picks,
                    declined,
                    direct_call(self.schema, field_def) if picks is not None else None,
                )
            )
        lean = lean_roots(self.schema, tuple(roots), root_type.name) if self.render else None
        return CompiledOperation(root_type, tuple(roots), lean)

    def value(self, type_: GraphQLOutputType, details: FieldDetailsList) -> Complete:
        """Completes a value of ``type_`` (None included)."""
        required = is_non_null_type(type_)
        named = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if isinstance(named, GraphQLList):
            return _list(self.value(named.of_type, details), required)
        if is_scalar_type(named) or is_enum_type(named):
            return _leaf(named, required)
        if is_object_type(named):
            assert isinstance(named, GraphQLObjectType)
            return self.object(named, details, required)
        raise NotPlannable(f"type {named}")

    def object(
        self, type_: GraphQLObjectType, details: FieldDetailsList, required: bool
    ) -> Complete:
        executor = self.executor
        collected = collect_subfields(
            self.schema,
            executor.fragments,
            executor.variable_values,
            executor.operation,
            type_,
            details,
        )
        if collected.new_defer_usages:
            raise NotPlannable("@defer")
        entries: list[tuple[str, str]] = []
        helpers: dict[str, Any] = {}
        for key, sub in collected.grouped_field_set.items():
            node = sub[0].node
            name = node.name.value
            if name == "__typename":
                entries.append((key, repr(type_.name)))
                continue
            field = type_.fields.get(name)
            if field is None or node.arguments or field.args:
                raise NotPlannable(f"{type_.name}.{name}")
            read = _read(type_, name, field, helpers)
            complete = self.value(field.type, sub)
            entries.append((key, _inline(field.type, read, complete, helpers)))
        complete = _object(type_.name, entries, helpers, required)
        if type_.is_type_of is not None:
            complete = _checked(type_.is_type_of, complete)
        return complete


def _helper(helpers: dict[str, Any], value: Any) -> str:
    name = f"h{len(helpers)}"
    helpers[name] = value
    return name


# Values the built-in scalars return unchanged, tested inline: ``v`` is the value read.
_SHORTCUTS: dict[Any, str] = {
    GraphQLInt: f"type(v) is int and {MIN_INT} <= v <= {MAX_INT}",
    GraphQLString: "type(v) is str",
    GraphQLBoolean: "type(v) is bool",
}


def _inline(
    type_: GraphQLOutputType, read: str, complete: Complete, helpers: dict[str, Any]
) -> str:
    """The expression completing the value ``read`` yields."""
    name = _helper(helpers, complete)
    named = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    shortcut = _SHORTCUTS.get(named)
    if shortcut is None:
        return f"{name}({read})"
    test = shortcut.replace("type(v)", f"type(v := {read})", 1)
    return f"(v if {test} else {name}(v))"


def _read(type_: GraphQLObjectType, name: str, field: GraphQLField, helpers: dict[str, Any]) -> str:
    """The expression reading the field from ``source`` as Strawberry would."""
    definition = (field.extensions or {}).get(DEFINITION)
    if definition is None or definition.extensions:
        raise NotPlannable(f"{type_.name}.{name}")
    resolver = definition.base_resolver
    if resolver is None:
        if not getattr(field.resolve, "_is_default", False):
            raise NotPlannable(f"{type_.name}.{name} resolver")
        if definition.default_resolver is not getattr:
            raise NotPlannable("custom default resolver")
        attribute = definition.python_name
        if attribute.isidentifier() and not iskeyword(attribute):
            return f"source.{attribute}"
        return f"{_helper(helpers, attrgetter(attribute))}(source)"
    plain = (
        not resolver.is_async
        and resolver.info_parameter is None
        and resolver.root_parameter is None
        and resolver.parent_parameter is None
        and not resolver.arguments
    )
    if not plain:
        raise NotPlannable(f"{type_.name}.{name} resolver")
    call = _helper(helpers, resolver)
    return f"{call}(source)" if resolver.self_parameter is not None else f"{call}()"


def _identity(value: Any) -> Any:
    return value


def _unusual(_value: Any) -> Any:
    raise Unusual


def _leaf(type_: Any, required: bool) -> Complete:
    coerce = type_.coerce_output_value

    def general(value: Any) -> Any:
        if value is None:
            if required:
                raise Unusual
            return None
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise Unusual
        return coerced

    if type_ is GraphQLInt:

        def integer(value: Any) -> Any:
            if type(value) is int and MIN_INT <= value <= MAX_INT:
                return value
            return general(value)

        return integer
    if type_ is GraphQLString:

        def string(value: Any) -> Any:
            return value if type(value) is str else general(value)

        return string
    if type_ is GraphQLBoolean:

        def boolean(value: Any) -> Any:
            return value if type(value) is bool else general(value)

        return boolean
    if type_ is GraphQLFloat:

        def floating(value: Any) -> Any:
            if type(value) is float and isfinite(value):
                return value
            return general(value)

        return floating
    return general


def _checked(is_type_of: Callable[[Any, Any], Any], complete: Complete) -> Complete:
    """A type implementing an interface checks the value is one of it, as graphql-core
    does (Strawberry's check reads only the value, not the resolve info)."""

    def complete_checked(value: Any) -> Any:
        if value is not None and is_type_of(value, None) is not True:
            raise Unusual
        return complete(value)

    return complete_checked


def _list(item: Complete, required: bool) -> Complete:
    def complete_list(value: Any) -> Any:
        if value is None:
            if required:
                raise Unusual
            return None
        if type(value) is not list and type(value) is not tuple:
            raise Unusual
        return [item(element) for element in value]

    return complete_list


def _object(
    type_name: str, entries: list[tuple[str, str]], helpers: dict[str, Any], required: bool
) -> Complete:
    """One generated function building the object's response dictionary.

    The text holds only response keys (quoted with ``repr``), Python identifiers of the
    Strawberry fields and helper names: nothing from a request's values.
    """
    on_null = "raise Unusual" if required else "return None"
    items = "".join(f"\n        {key!r}: {expression}," for key, expression in entries)
    source = (
        f"def complete_{type_name}(source):\n"
        f"    if source is None:\n"
        f"        {on_null}\n"
        f"    return {{{items}\n    }}\n"
    )
    namespace: dict[str, Any] = {**helpers, "Unusual": Unusual}
    exec(compile(source, f"<plan {type_name}>", "exec"), namespace)
    function: Complete = namespace[f"complete_{type_name}"]
    return function
