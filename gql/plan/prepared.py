"""Executors for a planned document, built without redoing what depends on it alone.

graphql-core's ``Executor.build`` finds the operation and the fragments and works out
each variable's signature (its type from the document) on every request, then coerces the
variables. :class:`PreparedOperation` keeps what the first successful build found and
coerces each request's variables with graphql-core's own functions, in the order and with
the checks ``coerce_variable_values`` applies; anything it would report an error for, or
fill from a default, is left to ``Executor.build`` (which reports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    GraphQLBoolean,
    GraphQLError,
    GraphQLID,
    GraphQLInputType,
    GraphQLInt,
    GraphQLNamedType,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    Undefined,
    is_named_type,
)
from graphql.execution.executor import (
    Executor,
    FragmentDetails,
    default_field_resolver,
    default_type_resolver,
)
from graphql.execution.get_variable_signature import get_variable_signature
from graphql.execution.values import (
    GraphQLVariableSignature,
    VariableValues,
    VariableValueSource,
    coerce_input_value,
    input_is_nested_too_deeply,
)
from graphql.language import FragmentDefinitionNode
from graphql.type import is_non_null_type
from strawberry.execution import optimized_is_awaitable

# Built-in scalars whose coercion returns a value of this exact type as it is.
_AS_GIVEN: dict[GraphQLNamedType, type] = {
    GraphQLString: str,
    GraphQLBoolean: bool,
    GraphQLID: str,
}


def _scalar_of(type_: GraphQLInputType) -> GraphQLNamedType | None:
    inner = type_.of_type if is_non_null_type(type_) else type_  # type: ignore[union-attr]
    return inner if is_named_type(inner) else None


def _as_given(named: GraphQLNamedType | None, value: Any) -> bool:
    """Whether coercing ``value`` to the built-in scalar ``named`` returns it unchanged."""
    if named is GraphQLInt:
        return type(value) is int and GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT
    return named is not None and type(value) is _AS_GIVEN.get(named)


def _coerced(
    value: Any, signature: GraphQLVariableSignature, named: GraphQLNamedType | None
) -> Any:
    """A given variable's value as graphql-core coerces it; Undefined where it reports an
    error."""
    if _as_given(named, value):
        return value  # what coerce_input_value returns for it
    if input_is_nested_too_deeply(value, signature.type):
        return Undefined
    return coerce_input_value(value, signature.type)


# A request's variables: their sources, and their coerced values by name.
Coerced = tuple[dict[str, VariableValueSource], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class PreparedOperation:
    schema: GraphQLSchema
    operation: OperationDefinitionNode
    fragment_definitions: dict[str, FragmentDefinitionNode]
    fragments: dict[str, FragmentDetails]
    # Per variable: its signature, and whether the document gives it a default.
    variables: tuple[tuple[GraphQLVariableSignature, bool], ...]
    # Per variable: its type, where that is a named type, non-null or not (what
    # :meth:`values` checks first); None for a list.
    named: tuple[GraphQLNamedType | None, ...] = ()

    @classmethod
    def of(cls, executor: Executor) -> PreparedOperation | None:
        """What ``executor`` (built for the planned document) found, or None where a
        fragment or a variable needs more than this class does."""
        if any(details.variable_signatures for details in executor.fragments.values()):
            return None
        variables = []
        for node in executor.operation.variable_definitions or ():
            signature = get_variable_signature(executor.schema, node)
            if isinstance(signature, GraphQLError):
                return None
            variables.append((signature, node.default_value is not None))
        return cls(
            executor.schema,
            executor.operation,
            executor.fragment_definitions,
            executor.fragments,
            tuple(variables),
            tuple(_scalar_of(signature.type) for signature, _ in variables),
        )

    def coerce(
        self, given: dict[str, Any] | None, values: dict[str, Any] | None = None
    ) -> Coerced | None:
        """The variables' sources and coerced values as ``Executor.build`` finds them, or
        None where it must build (and report) them (``values``: what :meth:`values` gave
        for them already)."""
        coerced = values if values is not None else self.values(given)
        if coerced is None:
            return None
        inputs = given or {}
        sources = {
            signature.name: VariableValueSource(signature, inputs[signature.name])
            if signature.name in inputs
            else VariableValueSource(signature)
            for signature, _ in self.variables
        }
        return sources, coerced

    def values(self, given: dict[str, Any] | None) -> dict[str, Any] | None:
        """The coerced values of :meth:`coerce` alone (what a renderer reads; the sources
        are the executor's), or None where ``Executor.build`` must build them."""
        inputs = given or {}
        coerced: dict[str, Any] = {}
        for (signature, has_default), named in zip(self.variables, self.named, strict=True):
            name = signature.name
            value = inputs.get(name, Undefined)
            if value is Undefined:
                if has_default or is_non_null_type(signature.type):
                    return None
                continue
            converted = _coerced(value, signature, named)
            if converted is Undefined:
                return None
            coerced[name] = converted
        return coerced

    def executor(
        self,
        context: Any,
        given: dict[str, Any] | None,
        coerced: Coerced | None = None,
    ) -> Executor | None:
        """The executor ``Executor.build`` would make for these variables (``coerced``:
        what :meth:`coerce` gave for them), or None where it must build (and report) it."""
        found = coerced if coerced is not None else self.coerce(given)
        if found is None:
            return None
        sources, values = found
        return Executor(
            self.schema,
            self.fragment_definitions,
            self.fragments,
            None,
            context,
            self.operation,
            VariableValues(sources, values),
            default_field_resolver,
            default_type_resolver,
            default_field_resolver,
            False,
            None,
            optimized_is_awaitable,  # type: ignore[arg-type]
            None,
            hide_suggestions=False,
        )
