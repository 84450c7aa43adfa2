"""Root fields answered as JSON text the database renders in the selection's shape.

The compiled plan translates a root field's selection (aliases, fragments, ``@include`` /
``@skip`` under the request's variables, ``__typename``) into the domain's picks when
every field it names is one the domain renders, with the same kind of value the schema
declares (a field whose type changed is not rendered; an enum is, when its names are the
stored text in capitals). At run time the plan
calls the root resolver itself, with the picks set here: the resolver checks the caller
and its arguments as always, then asks the domain for the JSON text instead of rows, and
the plan places that text into the response unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    is_enum_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList, collect_subfields
from graphql.execution.executor import Executor

from models.booking import booking_render
from models.platform.errors import DomainError
from models.platform.record_render import (
    BOOLEAN,
    DAY,
    ENUM,
    INSTANT,
    INTEGER,
    NODE_ID,
    STRING,
    Pick,
    Picks,
    Record,
)
from models.scheduling import (
    appointment_type_render,
    provider_render,
    provider_slots_render,
    series_render,
    slot_render,
)

DEFINITION = "strawberry-definition"
# The root fields whose resolvers render, the record kind each answers, and whether the
# answer is a list of them.
ROOTS: dict[str, tuple[Record, bool]] = {
    "availableSlots": (slot_render.PAGE, False),
    "searchAvailableSlots": (slot_render.PAGE, False),
    "availableSlot": (slot_render.SLOT, False),
    "books": (booking_render.PAGE, False),
    "book": (booking_render.BOOKING, False),
    "providers": (provider_render.PAGE, False),
    "provider": (provider_render.PROVIDER, False),
    "providerAvailableSlots": (provider_slots_render.PAGE, False),
    "slotSeries": (series_render.SERIES, False),
    "appointmentTypes": (appointment_type_render.APPOINTMENT_TYPE, True),
    "appointmentType": (appointment_type_render.APPOINTMENT_TYPE, False),
}
# The schema's leaf types, by the kind of value the domain writes for them.
SCALAR_KINDS = {
    "Int": INTEGER,
    "String": STRING,
    "Boolean": BOOLEAN,
    "DateTime": INSTANT,
    "Date": DAY,
    "ID": NODE_ID,
}

# Set by the plan around a root resolver it asks to render.
PICKS: ContextVar[Picks | None] = ContextVar("rendered_picks", default=None)


class NotRendered(Exception):
    """The selection names something the domain does not render as the schema says."""


class RenderFailed(Exception):
    """Rendering failed where reading rows might not: the plan answers without it."""


@dataclass(frozen=True, slots=True)
class RenderedJson:
    """A root field's answer, as the JSON text to place in the response."""

    text: str


def rendered_picks() -> Picks | None:
    """The shape the running root resolver renders its answer in, if the plan asks."""
    return PICKS.get()


async def rendered(text: Awaitable[str]) -> Any:
    """The resolver's answer from the domain's JSON text. Domain errors (refusals, not
    found) stay the resolver's; anything else means the rows path must answer."""
    try:
        return RenderedJson(await text)
    except DomainError:
        raise
    except Exception as exc:
        raise RenderFailed from exc


def _unwrap(type_: GraphQLOutputType) -> tuple[Any, bool]:
    """The named type and whether it is a list (of a single level)."""
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if isinstance(type_, GraphQLList):
        item = type_.of_type
        item = item.of_type if isinstance(item, GraphQLNonNull) else item
        if isinstance(item, (GraphQLList, GraphQLNonNull)):
            raise NotRendered("nested list")
        return item, True
    return type_, False


def root_picks(
    schema: GraphQLSchema, executor: Executor, type_: GraphQLOutputType, details: FieldDetailsList
) -> Picks:
    """The picks of a root field's selection; NotRendered when the domain cannot."""
    root = ROOTS.get(details[0].node.name.value)
    named, is_list = _unwrap(type_)
    if root is None or is_list != root[1] or not is_object_type(named):
        raise NotRendered("root field")
    return _picks(schema, executor, named, details, root[0])


def _picks(
    schema: GraphQLSchema,
    executor: Executor,
    type_: GraphQLObjectType,
    details: FieldDetailsList,
    record: Record,
) -> Picks:
    collected = collect_subfields(
        schema, executor.fragments, executor.variable_values, executor.operation, type_, details
    )
    if collected.new_defer_usages:
        raise NotRendered("@defer")
    picks: list[Pick] = []
    for key, sub in collected.grouped_field_set.items():
        node = sub[0].node
        name = node.name.value
        if name == "__typename":
            picks.append(Pick(key, "", json.dumps(type_.name)))
            continue
        field = type_.fields.get(name)
        definition = (field.extensions or {}).get(DEFINITION) if field is not None else None
        if field is None or definition is None or node.arguments or field.args:
            raise NotRendered(name)
        python_name = definition.python_name
        named, is_list = _unwrap(field.type)
        if is_object_type(named):
            nested = record.objects.get(python_name)
            if nested is None or nested[1] != is_list:
                raise NotRendered(name)
            inner = _picks(schema, executor, named, sub, nested[0])
            picks.append(Pick(key, python_name, sub=inner))
            continue
        value = record.values.get(python_name)
        kind = _enum_kind(named) if is_enum_type(named) else SCALAR_KINDS.get(named.name)
        if kind is not None and is_list:
            kind += "[]"  # a list of text stored as a JSON array (STRINGS, ENUMS)
        if value is None or kind != value[0]:
            raise NotRendered(name)
        picks.append(Pick(key, python_name))
    return tuple(picks)


def _enum_kind(type_: Any) -> str | None:
    """ENUM when each of the enum's names is its stored text in capitals."""
    for name, value in type_.values.items():
        stored = getattr(value.value, "value", value.value)
        if not isinstance(stored, str) or stored.upper() != name:
            return None
    return ENUM
