"""Root fields answered straight from the domain's renderer, without graphql-core's and
Strawberry's per-request objects.

A root resolver that renders (``gql.plan.rendered``) names the function it renders with
(:func:`renders`): ``render(context, picks, **arguments)``, the same call the resolver
makes once it has checked the caller. Where a compiled root field has such a function,
Strawberry hands its arguments over unconverted (scalars, see ``gql.plan.direct``) and
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
    Undefined,
    VariableNode,
    is_non_null_type,
    value_from_ast,
)

from gql.plan.direct import DEFINITION, plain_arguments
from models.platform.record_render import Picks

Render = Callable[..., Awaitable[str]]
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
    # Per argument: its Python name, the variable giving it (or None) and its value
    # otherwise (None for a variable); and whether a null variable is refused there.
    arguments: tuple[tuple[str, str | None, Any, bool], ...]
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
    plain = plain_arguments(schema, field_def)
    if render is None or plain is None:
        return None
    given = {argument.name.value: argument.value for argument in detail.node.arguments or ()}
    arguments: list[tuple[str, str | None, Any, bool]] = []
    for name, argument in field_def.args.items():
        python_name = plain.get(name)
        if python_name is None:
            return None
        required = is_non_null_type(argument.type)
        node = given.get(name)
        if node is None:
            # As graphql-core gives it: the argument's default, else nothing.
            if argument.default_value is not Undefined:
                arguments.append((python_name, None, argument.default_value, required))
        elif isinstance(node, VariableNode):
            arguments.append((python_name, node.name.value, None, required))
        else:
            value = value_from_ast(node, argument.type)
            if value is Undefined:
                return None
            arguments.append((python_name, None, value, required))
    return LeanRoot(root.key, render, root.picks, tuple(arguments))


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
        for python_name, variable, value, required in root.arguments:
            if variable is not None:
                if variable not in coerced:
                    return None  # its default, or an error: graphql-core decides
                value = coerced[variable]
                if value is None and required:
                    return None
            kwargs[python_name] = value
        try:
            text = await render(context, root.picks, **kwargs)
        except Exception:  # a refusal or a failure: the full path answers it
            return None
        data[root.key] = orjson.Fragment(text)
    return data
