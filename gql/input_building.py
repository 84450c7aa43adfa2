"""Input objects built the way Strawberry builds them, with the per-request work done once.

Strawberry converts an input object's value field by field on every request (the field's
GraphQL name worked out, its type resolved, the value walked); for a filter read on every
page that was a tenth of the request. :func:`built_once` gives an input type a
``from_input`` that works the names and types out once per schema configuration, hands a
scalar's value over as it is (as Strawberry does for scalars) and asks Strawberry's own
conversion for any other field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING
from typing import Any, TypeVar

from strawberry.relay import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    StrawberryType,
    get_object_definition,
)

T = TypeVar("T", bound=type)
# Per input field: its GraphQL name, Python name, type, and whether its value is a
# scalar's, handed over unconverted.
_Field = tuple[str, str, "StrawberryType | type", bool]


class _Builder:
    def __init__(self, definition: StrawberryObjectDefinition) -> None:
        self.definition = definition
        # The fields by schema configuration (its name converter and scalars decide them).
        self.plans: dict[int, tuple[tuple[_Field, ...], dict[str, None]]] = {}

    def _plan(self, context: InputContext) -> tuple[tuple[_Field, ...], dict[str, None]]:
        key = id(context.config)
        plan = self.plans.get(key)
        if plan is None:
            definition = self.definition
            fields = []
            for field in definition.fields:
                type_ = field.resolve_type(type_definition=definition)
                inner = type_.of_type if isinstance(type_, StrawberryOptional) else type_
                plain = (
                    not isinstance(type_, StrawberryMaybe)
                    and not isinstance(inner, StrawberryType)
                    and inner is not GlobalID
                    and is_scalar(inner, context.scalar_registry)
                )
                name = context.config.name_converter.from_field(field)
                fields.append((name, field.python_name, type_, plain))
            # As Strawberry does: None for a field without a default of its own.
            implicit = {
                field.python_name: None
                for field in definition.fields
                if field.default_value is MISSING and field.default_factory is MISSING
            }
            plan = self.plans[key] = (tuple(fields), implicit)
        return plan

    def __call__(self, cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        fields, implicit = self._plan(context)
        kwargs: dict[str, Any] = dict(implicit) if self.definition.is_input else {}
        for name, python_name, type_, plain in fields:
            if name in value:
                given = value[name]
                kwargs[python_name] = given if plain else context.convert(given, type_, name)
        return cls(**kwargs)


def built_once(cls: T) -> T:
    """``cls`` (a ``strawberry.input``) built from its input value by :class:`_Builder`."""
    definition = get_object_definition(cls, strict=True)
    definition.from_input = _Builder(definition)
    return cls


def is_built_once(definition: StrawberryObjectDefinition) -> bool:
    """Whether ``definition`` is built by :class:`_Builder` (which never reads ``Info``)."""
    return isinstance(definition.from_input, _Builder)
