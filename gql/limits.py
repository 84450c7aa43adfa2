"""Abuse limits of the GraphQL endpoint: tokens, depth, aliases, cost; bounded caches.

One pass over the operation measures depth, aliases and cost. Fragments are measured
once each and reused, so a document that spreads fragments into one another many times
cannot make the measuring (or the server) work exponentially. Cost counts every field
once, times the page size (``first``, or its default) of every connection above it.

Validation hides "Did you mean ..." suggestions, so the schema cannot be guessed field
by field when introspection is off.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    BREAK,
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NoSchemaIntrospectionCustomRule,
    ObjectFieldNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    Visitor,
    get_named_type,
    is_interface_type,
    is_object_type,
    parse,
    validate,
    visit,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.utils.operation import get_first_operation, get_operation_type
from strawberry.utils.str_converters import to_snake_case

from common.text_checks import invalid_text_field

LIMIT_CODE = "QUERY_TOO_COMPLEX"
# A page-size argument not given counts as its default (the REST default page size).
PAGE_ARGUMENT = "first"
# Paging backwards sizes the page with ``last`` instead.
BACKWARD_PAGE_ARGUMENT = "last"
# Introspection's type wrappers nest ``ofType`` a few levels; they do not add depth.
DEPTH_NEUTRAL_FIELDS = frozenset({"ofType"})
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    max_depth: int
    max_aliases: int
    max_tokens: int
    max_cost: int
    default_page_size: int = 25
    introspection: bool = True
    cache_size: int = 256


@dataclass(frozen=True, slots=True)
class Figures:
    depth: int = 0
    aliases: int = 0
    cost: int = 0

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            depth=max(self.depth, other.depth),
            aliases=self.aliases + other.aliases,
            cost=self.cost + other.cost,
        )


class _Measure:
    """Figures of one operation, each fragment measured once (cycles count as empty)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any],
        default_page_size: int,
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.default_page_size = default_page_size
        self.fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self.memo: dict[str, Figures] = {}
        self.in_progress: set[str] = set()
        self.variable_defaults: dict[str, Any] = {}

    def operation(self, operation: OperationDefinitionNode) -> Figures:
        for definition in operation.variable_definitions or ():
            default = definition.default_value
            if isinstance(default, IntValueNode):
                self.variable_defaults[definition.variable.name.value] = int(default.value)
        root = self.schema.get_root_type(operation.operation)
        return self.selection_set(operation.selection_set, root)

    def selection_set(self, selection_set: SelectionSetNode | None, parent: Any) -> Figures:
        total = Figures()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total = total + self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total = total + self.selection_set(selection.selection_set, inner)
            elif isinstance(selection, FragmentSpreadNode):
                total = total + self.fragment(selection.name.value)
        return total

    def fragment(self, name: str) -> Figures:
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.in_progress:
            return Figures()
        self.in_progress.add(name)
        parent = self.schema.get_type(definition.type_condition.name.value)
        figures = self.selection_set(definition.selection_set, parent)
        self.in_progress.discard(name)
        self.memo[name] = figures
        return figures

    def field(self, node: FieldNode, parent: Any) -> Figures:
        name = node.name.value
        definition = self._definition(parent, name)
        child_type = get_named_type(definition.type) if definition is not None else None
        child = self.selection_set(node.selection_set, child_type)
        multiplier = self._page_size(node, definition)
        neutral = name in DEPTH_NEUTRAL_FIELDS or name == "__typename"
        return Figures(
            depth=child.depth + (0 if neutral else 1),
            aliases=child.aliases + (1 if node.alias else 0),
            cost=1 + multiplier * child.cost,
        )

    def _definition(self, parent: Any, name: str) -> GraphQLField | None:
        if name == "__schema":
            return SchemaMetaFieldDef
        if name == "__type":
            return TypeMetaFieldDef
        if parent is not None and (is_object_type(parent) or is_interface_type(parent)):
            field: GraphQLField | None = parent.fields.get(name)
            return field
        return None

    def _page_size(self, node: FieldNode, definition: GraphQLField | None) -> int:
        if definition is None or PAGE_ARGUMENT not in definition.args:
            return 1
        value: Any = None
        for argument in node.arguments or ():
            if argument.name.value not in (PAGE_ARGUMENT, BACKWARD_PAGE_ARGUMENT):
                continue
            given: Any = None
            if isinstance(argument.value, IntValueNode):
                given = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                variable = argument.value.name.value
                given = self.variables.get(variable, self.variable_defaults.get(variable))
            value = given if given is not None else value
        if value is None:
            default = definition.args[PAGE_ARGUMENT].default_value
            value = default if isinstance(default, int) else self.default_page_size
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            return 1  # refused by the resolver's own check
        return value


def measure(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
    default_page_size: int = 25,
) -> Figures:
    """The figures of the operation that would run (of the largest one if unclear)."""
    measure = _Measure(schema, document, variables or {}, default_page_size)
    operations = [
        definition
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    ]
    chosen = [op for op in operations if op.name and op.name.value == operation_name]
    figures = Figures()
    for operation in chosen or operations:
        figures = figures + measure.operation(operation)
    return figures


def page_variables(document: DocumentNode) -> tuple[str, ...]:
    """The variables :func:`measure` reads from a request: those given as a page size."""
    names: set[str] = set()

    class Finder(Visitor):
        def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
            if node.name.value in (PAGE_ARGUMENT, BACKWARD_PAGE_ARGUMENT) and isinstance(
                node.value, VariableNode
            ):
                names.add(node.value.name.value)

    visit(document, Finder())
    return tuple(sorted(names))


def limit_errors(figures: Figures, policy: LimitPolicy) -> list[GraphQLError]:
    problems: list[str] = []
    if figures.depth > policy.max_depth:
        problems.append(
            f"Query is too deep: depth {figures.depth}, at most {policy.max_depth} allowed."
        )
    if figures.aliases > policy.max_aliases:
        problems.append(
            f"Query has too many aliases: {figures.aliases}, at most {policy.max_aliases} "
            "allowed (fragments count each time they are used)."
        )
    if figures.cost > policy.max_cost:
        problems.append(
            f"Query is too expensive: cost {figures.cost}, at most {policy.max_cost} allowed "
            "(each field counts once per item of every page above it; ask for smaller "
            "pages with `first`)."
        )
    return [
        GraphQLError(
            message,
            extensions={"code": LIMIT_CODE, "status": 422, "errors": message},
        )
        for message in problems
    ]


# Parsed documents come from the parser's cache, so the same query is the same object:
# its literals are looked at once. Keyed by identity (documents hash deeply); the
# document is kept alongside so its id cannot be reused while the entry lives.
_NUL_ARGUMENTS: dict[int, tuple[DocumentNode, str | None]] = {}
_NUL_ARGUMENTS_MAX = 1024


def nul_argument(document: DocumentNode) -> str | None:
    """The argument or input field whose string literal holds a NUL character, if any."""
    known = _NUL_ARGUMENTS.get(id(document))
    if known is not None and known[0] is document:
        return known[1]
    if len(_NUL_ARGUMENTS) >= _NUL_ARGUMENTS_MAX:
        _NUL_ARGUMENTS.clear()
    found = _NUL_ARGUMENTS[id(document)] = (document, _find_nul_argument(document))
    return found[1]


def _find_nul_argument(document: DocumentNode) -> str | None:
    found: list[str] = []

    class Finder(Visitor):
        def enter_argument(self, node: ArgumentNode, *_args: Any) -> Any:
            return self._check(node.name.value, node.value)

        def enter_object_field(self, node: ObjectFieldNode, *_args: Any) -> Any:
            return self._check(node.name.value, node.value)

        def _check(self, name: str, value: Any) -> Any:
            if isinstance(value, StringValueNode) and "\x00" in value.value:
                found.append(name)
                return BREAK
            return None

    visit(document, Finder())
    return found[0] if found else None


def invalid_text_error(field: str) -> GraphQLError:
    return GraphQLError(
        "Validation failed",
        extensions={"code": "VALIDATION_FAILED", "status": 422, "errors": {field: ["is invalid"]}},
    )


def strip_suggestions(message: str) -> str:
    return _SUGGESTION.sub("", message)


@lru_cache(maxsize=8)
def _cached_parser(maxsize: int) -> Callable[..., DocumentNode]:
    return lru_cache(maxsize=maxsize)(parse)


def parsed_document(query: object, policy: LimitPolicy) -> DocumentNode | None:
    """The document of ``query`` from the same bounded cache the endpoint parses with, or
    None when it does not parse (the executor reports why)."""
    if not isinstance(query, str) or not query:
        return None
    try:
        return _cached_parser(policy.cache_size)(query, max_tokens=policy.max_tokens)
    except GraphQLError:
        return None


def operation_type(
    query: object, operation_name: str | None, policy: LimitPolicy
) -> OperationType | None:
    """The type of the operation that would run for ``query`` and ``operation_name``
    (Strawberry runs the first one when no name is given), if one would."""
    document = parsed_document(query, policy)
    if document is None:
        return None
    try:
        kind = get_operation_type(document, operation_name)
    except RuntimeError:  # no operation of that name
        return None
    return OperationType(kind.value)


def operation_label(
    query: object, operation_name: str | None, policy: LimitPolicy
) -> tuple[str | None, str]:
    """The name and type (``query``, ``mutation``, ``subscription`` or ``invalid``) of the
    operation that would run, as the log line and metrics name it."""
    kind = operation_type(query, operation_name, policy)
    if kind is None:
        return operation_name, "invalid"
    document = parsed_document(query, policy)
    first = get_first_operation(document) if document is not None else None
    if operation_name is None and first is not None and first.name is not None:
        operation_name = first.name.value
    return operation_name, kind.value


@lru_cache(maxsize=8)
def _cached_validator(maxsize: int) -> Callable[..., list[GraphQLError]]:
    def validate_document(
        schema: GraphQLSchema,
        document: DocumentNode,
        rules: tuple[type[ASTValidationRule], ...],
    ) -> list[GraphQLError]:
        return validate(schema, document, rules, hide_suggestions=True)

    return lru_cache(maxsize=maxsize)(validate_document)


def validation_rules(
    base: tuple[type[ASTValidationRule], ...], policy: LimitPolicy
) -> tuple[type[ASTValidationRule], ...]:
    from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
    from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

    rules = (*base, MaybeNullValidationRule, OneOfInputValidationRule)
    if not policy.introspection:
        rules = (*rules, NoSchemaIntrospectionCustomRule)
    return rules


class GraphQLLimits(SchemaExtension):
    """Token cap while parsing, depth/alias/cost caps and suggestion-free validation.

    Parsed documents and validation results are kept in bounded LRU caches.
    """

    def __init__(self, policy: LimitPolicy) -> None:
        super().__init__()
        self.policy = policy

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = self.policy.max_tokens
        yield
        result = self.execution_context.result
        for error in (result.errors or []) if result is not None else []:
            error.message = strip_suggestions(error.message)

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            try:
                context.graphql_document = _cached_parser(self.policy.cache_size)(
                    context.query, **context.parse_options
                )
            except GraphQLError:
                pass  # parsed again (uncached) by the executor, which reports the error
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            figures = measure(
                context.schema._schema,
                document,
                variables=context.variables if isinstance(context.variables, dict) else None,
                operation_name=context.operation_name,
                default_page_size=self.policy.default_page_size,
            )
            errors = limit_errors(figures, self.policy)
            field = nul_argument(document) or invalid_text_field(context.variables or {})
            if not errors and field is not None:
                errors = [invalid_text_error(to_snake_case(field))]
            if not errors:
                rules = validation_rules(tuple(context.validation_rules), self.policy)
                errors = list(
                    _cached_validator(self.policy.cache_size)(
                        context.schema._schema, document, rules
                    )
                )
            context.pre_execution_errors = errors
        yield


def limits_extension(policy: LimitPolicy) -> Callable[[], GraphQLLimits]:
    """A per-request factory, as Strawberry wants extensions."""
    return lambda: GraphQLLimits(policy)


__all__ = [
    "LIMIT_CODE",
    "Figures",
    "GraphQLLimits",
    "LimitPolicy",
    "limit_errors",
    "limits_extension",
    "measure",
    "operation_label",
    "operation_type",
    "parsed_document",
    "strip_suggestions",
]
