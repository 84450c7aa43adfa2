"""Root fields answered straight from the domain's renderer, without graphql-core's and
Strawberry's per-request objects.

A root resolver that renders (``gql.plan.rendered``) names the function it renders with
(:func:`renders`): ``render(context, picks, **arguments)``, the same call the resolver
makes once it has checked the caller. Where a compiled root field has such a function,
its arguments are converted without the request's ``Info`` (scalars handed over as they
are, input objects built by Strawberry's own conversion, see ``gql.plan.direct``) and
the request gives each as a variable or a literal, the fast lane calls that function
with the request's coerced variables: no executor, no resolve info, no ``Info``. Anything
that would answer otherwise (a variable left out or null where the argument needs it, a
refusal, a failure) makes :func:`run_lean` answer None, and the request takes the full
path, which answers it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from graphql import (
    GraphQLSchema,
    ListValueNode,
    ObjectValueNode,
    Undefined,
    ValueNode,
    VariableNode,
    is_non_null_type,
    value_from_ast,
)

from gql.plan.direct import DEFINITION, lean_arguments
from models.platform.record_render import Picks

Render = Callable[..., Awaitable[str]]
Convert = Callable[[Any], Any]
Resolver = TypeVar("Resolver", bound=Callable[..., Any])
_RENDER = "__rendered_by__"


def renders(render: Render) -> Callable[[Resolver], Resolver]:
    """Marks a root resolver as answering, once the caller is checked, with
    ``await render(context, picks, **arguments)`` when the plan asks for JSON."""

    def mark(resolver: Resolver) -> Resolver:
        setattr(resolver, _RENDER, render)
        return resolver

    return mark


@dataclass(frozen=True, slots=True)
class LeanRoot:
    key: str
    # None for ``__typename``, answered as ``constant``.
    render: Render | None
    picks: Picks
    # Per argument: its Python name; the variable giving it (or None); its value otherwise
    # (for a variable, the argument's default or Undefined); whether a null variable is
    # refused there; and Strawberry's conversion of its value (None: handed over as is).
    arguments: tuple[tuple[str, str | None, Any, bool, Convert | None], ...]
    constant: str = ""


def lean_roots(
    schema: GraphQLSchema, roots: tuple[Any, ...], type_name: str
) -> tuple[LeanRoot, ...] | None:
    """The compiled roots as lean roots, or None unless every one can be."""
    lean = []
    for root in roots:
        if root.field_def is None:
            lean.append(LeanRoot(root.key, None, (), (), type_name))
            continue
        one = _lean_root(schema, root)
        if one is None:
            return None
        lean.append(one)
    return tuple(lean)


def _lean_root(schema: GraphQLSchema, root: Any) -> LeanRoot | None:
    field_def = root.field_def
    if root.picks is None or len(root.details) != 1:
        return None
    detail = root.details[0]
    if detail.fragment_variable_values is not None:
        return None
    field = (field_def.extensions or {}).get(DEFINITION)
    resolver = getattr(field, "base_resolver", None)
    render = getattr(getattr(resolver, "wrapped_func", None), _RENDER, None)
    lean = lean_arguments(schema, field_def)
    if render is None or lean is None:
        return None
    given = {argument.name.value: argument.value for argument in detail.node.arguments or ()}
    arguments: list[tuple[str, str | None, Any, bool, Convert | None]] = []
    for name, argument in field_def.args.items():
        if name not in lean:
            return None
        python_name, convert = lean[name]
        required = is_non_null_type(argument.type)
        node = given.get(name)
        if node is None:
            # As graphql-core gives it: the argument's default, else nothing.
            if argument.default_value is not Undefined:
                default = argument.default_value
                arguments.append((python_name, None, default, required, convert))
        elif isinstance(node, VariableNode):
            # Used when the request leaves the variable out (graphql-core's rule).
            default = argument.default_value
            arguments.append((python_name, node.name.value, default, required, convert))
        else:
            if _holds_variable(node):
                return None  # a literal with variables inside: graphql-core's to build
            value = value_from_ast(node, argument.type)
            if value is Undefined:
                return None
            arguments.append((python_name, None, value, required, convert))
    return LeanRoot(root.key, render, root.picks, tuple(arguments))


def _holds_variable(node: ValueNode) -> bool:
    if isinstance(node, VariableNode):
        return True
    if isinstance(node, ObjectValueNode):
        return any(_holds_variable(field.value) for field in node.fields)
    if isinstance(node, ListValueNode):
        return any(_holds_variable(value) for value in node.values)
    return False


async def run_lean(
    roots: tuple[LeanRoot, ...], context: Any, coerced: dict[str, Any]
) -> dict[str, Any] | None:
    """The response's ``data`` for orjson (rendered text as ``orjson.Fragment``s), root
    fields in document order, or None where the full path must answer."""
    data: dict[str, Any] = {}
    for root in roots:
        render = root.render
        if render is None:
            data[root.key] = root.constant
            continue
        kwargs: dict[str, Any] = {}
        try:
            for python_name, variable, value, required, convert in root.arguments:
                if variable is not None:
                    if variable in coerced:
                        value = coerced[variable]
                        if value is None and required:
                            return None
                    elif value is Undefined:
                        if required:
                            return None  # an error: graphql-core writes it
                        continue  # left out: the resolver's own default
                # Converted per request: an input object is built afresh each time.
                kwargs[python_name] = value if convert is None else convert(value)
            text = await render(context, root.picks, **kwargs)
        except Exception:  # a refusal or a failure: the full path answers it
            return None
        data[root.key] = orjson.Fragment(text)
    return data
