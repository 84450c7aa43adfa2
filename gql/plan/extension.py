"""The schema extension that answers planned queries before graphql-core would run.

Per request it coerces the variables and picks the operation with graphql-core's own
``Executor.build``, finds (or compiles) the plan, then runs the root fields one after the
other, as ``SerialRootFields`` makes them take turns anyway: each root resolver is called
with the same ``info`` and arguments as graphql-core would pass (auth, SQL, domain errors
and side effects such as the notes-read audit stay theirs), and only the completion of
what it returned is the plan's. Root field errors go through graphql-core's own
``handle_field_error``, so paths, locations and null propagation are the same.

Anything the plan does not cover (mutations, subscriptions, introspection, interfaces,
unions, fields with their own async or ``info``-taking resolvers, field arguments below
the root, other directives) is left to graphql-core, decided before anything runs.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    DirectiveNode,
    DocumentNode,
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    Visitor,
    visit,
)
from graphql.execution.executor import Executor
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import SchemaExtension
from strawberry.utils.await_maybe import await_maybe

from gql.plan.compiler import CompiledOperation, NotPlannable, RootField, compile_operation
from gql.plan.prepared import PreparedOperation
from gql.plan.rendered import PICKS, RenderedJson, RenderFailed

logger = logging.getLogger("clinic_availability.graphql.plan")

# Why a root field the database renders was answered otherwise: its selection names
# something the renderer does not write (decided when compiled), or rendering failed.
DECLINED, RENDER_FAILED = "declined", "render_failed"
FALLBACK_REASONS = (DECLINED, RENDER_FAILED)
# Distinct @include/@skip variable combinations compiled per document.
MAX_VARIANTS = 16
CONDITION_DIRECTIVES = frozenset({"include", "skip"})


class PlanCache:
    """Documents (by text and operation name) to their plans, least recently used out."""

    def __init__(self, size: int) -> None:
        self.size = max(size, 1)
        self.entries: OrderedDict[Hashable, DocumentPlan | None] = OrderedDict()
        self.runs = 0  # planned executions, for tests and diagnostics
        self.rendered = 0  # root fields answered with the database's JSON
        # Root fields the database renders, answered otherwise (a selection it does not
        # render, or rendering failed): a fast path that stops must show.
        self.fallbacks = 0
        # Told each fallback's reason (FALLBACK_REASONS), e.g. to count it in metrics.
        self.on_fallback: Callable[[str], None] | None = None

    def fell_back(self, reason: str) -> None:
        self.fallbacks += 1
        if self.on_fallback is not None:
            self.on_fallback(reason)

    def get(self, key: Hashable) -> tuple[bool, DocumentPlan | None]:
        try:
            entry = self.entries[key]
        except KeyError:
            return False, None
        self.entries.move_to_end(key)
        return True, entry

    def put(self, key: Hashable, entry: DocumentPlan | None) -> None:
        self.entries[key] = entry
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)


@dataclass(slots=True)
class DocumentPlan:
    document: DocumentNode
    # Variables that decide an @include/@skip: the compiled plans are keyed by their values.
    conditions: tuple[str, ...]
    variants: dict[tuple[Any, ...], CompiledOperation | None] = field(default_factory=dict)
    # The request checks that depend on the document and on a few variables alone (the
    # limits, by the page sizes given), as the fast lane found them: whether they pass.
    checked: dict[tuple[Any, ...], bool] = field(default_factory=dict)
    page_variables: tuple[str, ...] | None = None
    # What the fast lane's executors share (``gql.plan.prepared``), once one was built;
    # ``preparable`` False where it cannot be shared.
    prepared: PreparedOperation | None = None
    preparable: bool = True


def analyse(document: DocumentNode, operation_name: str | None) -> DocumentPlan | None:
    """The document's plan shell, or None when graphql-core must run it."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        chosen = operations if len(operations) == 1 else []
    else:
        chosen = [op for op in operations if op.name and op.name.value == operation_name]
    if len(chosen) != 1 or chosen[0].operation is not OperationType.QUERY:
        return None
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode) and definition.variable_definitions:
            return None
    if chosen[0].directives:
        return None
    conditions: set[str] = set()
    other_directive = False

    class Directives(Visitor):
        def enter_directive(self, node: DirectiveNode, *_args: Any) -> None:
            nonlocal other_directive
            if node.name.value not in CONDITION_DIRECTIVES:
                other_directive = True
                return
            for argument in node.arguments or ():
                if isinstance(argument.value, VariableNode):
                    conditions.add(argument.value.name.value)

    visit(document, Directives())
    if other_directive:
        return None
    return DocumentPlan(document, tuple(sorted(conditions)))


def variant_key(plan: DocumentPlan, executor: Executor) -> tuple[Any, ...]:
    return variant_of(plan, executor.variable_values.coerced) if plan.conditions else ()


def variant_of(plan: DocumentPlan, coerced: Mapping[str, Any]) -> tuple[Any, ...]:
    """The compiled variant for these coerced variables (the ``@include``/``@skip`` ones)."""
    return tuple(coerced.get(name) for name in plan.conditions)


async def run_plan(
    executor: Executor,
    compiled: CompiledOperation,
    cache: PlanCache | None = None,
    render: bool = False,
) -> ExecutionResult:
    """What graphql-core's ``execute_operation`` answers, root fields in document order.

    With ``render`` (the reply is encoded by orjson), rendered root fields are placed as
    ``orjson.Fragment``s of the database's JSON text.
    """
    root_type = compiled.root_type
    data: dict[str, Any] = {}
    counts = cache if cache is not None else PlanCache(1)
    try:
        for root in compiled.roots:
            if root.field_def is None:
                data[root.key] = root_type.name
                continue
            path = Path(None, root.key, root_type.name)
            data[root.key] = await _root_field(executor, root, root_type, path, counts, render)
    except GraphQLError as error:
        executor.collected_errors.add(error, None)
        return executor.build_response(None)  # type: ignore[return-value]
    return executor.build_response(data)  # type: ignore[return-value]


async def _root_field(
    executor: Executor,
    root: RootField,
    root_type: GraphQLObjectType,
    path: Path,
    counts: PlanCache,
    render: bool,
) -> Any:
    field_def = root.field_def
    assert field_def is not None
    return_type = field_def.type
    info = executor.build_resolve_info(field_def, root.nodes, root_type, path)
    try:
        first = root.details[0]
        args = (
            get_argument_values(
                field_def,
                first.node,
                executor.variable_values,
                first.fragment_variable_values,
                executor.hide_suggestions,
            )
            if root.has_args
            else {}
        )
        resolve = field_def.resolve or executor.field_resolver
        if render and root.picks is not None:
            direct = root.direct
            picked = PICKS.set(root.picks)
            try:
                if direct is not None:
                    result = await await_maybe(direct(executor.root_value, info, args))
                else:
                    result = await await_maybe(resolve(executor.root_value, info, **args))
            except RenderFailed:
                logger.exception("rendering %s failed", root.key)
                result = None
            finally:
                PICKS.reset(picked)
            if type(result) is RenderedJson:
                counts.rendered += 1
                return orjson.Fragment(result.text)
            counts.fell_back(RENDER_FAILED)
            result = await await_maybe(resolve(executor.root_value, info, **args))
        else:
            if render and root.declined:
                counts.fell_back(DECLINED)
            result = await await_maybe(resolve(executor.root_value, info, **args))
        try:
            return root.complete(result)
        except Exception:  # graphql-core completes it again and reports the error
            pass
        completed = executor.complete_value(return_type, root.details, info, path, result, None)
        return await await_maybe(completed)
    except Exception as raw_error:
        executor.handle_field_error(raw_error, return_type, root.details, path)
        return None


def _over_http(context: Any) -> bool:
    """The reply is written by the GraphQL view (orjson), which places rendered text."""
    return getattr(context, "request", None) is not None


class CompiledPlan(SchemaExtension):
    def __init__(self, cache: PlanCache, render: bool = False) -> None:
        super().__init__()
        self.cache = cache
        self.render = render

    async def on_execute(self) -> AsyncIterator[None]:  # type: ignore[override]
        context = self.execution_context
        if context.result is None and context.query and context.graphql_document is not None:
            planned = self._planned()
            if planned is not None:
                executor, compiled = planned
                self.cache.runs += 1
                render = self.render and _over_http(context.context)
                context.result = await run_plan(executor, compiled, self.cache, render)
        yield

    def _planned(self) -> tuple[Executor, CompiledOperation] | None:
        context = self.execution_context
        schema: GraphQLSchema = context.schema._schema
        # Keyed by the name the request gave (None: the document's only operation), so a
        # request can be looked up before its document is parsed (``gql.fast_post``).
        key = (context.query, getattr(context, "_provided_operation_name", context.operation_name))
        found, plan = self.cache.get(key)
        if not found:
            assert context.graphql_document is not None
            plan = analyse(context.graphql_document, context.operation_name)
            self.cache.put(key, plan)
        if plan is None:
            return None
        executor = Executor.build(
            schema,
            plan.document,
            context.root_value,
            context.context,
            context.variables,
            context.operation_name,
            is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
        )
        if isinstance(executor, list):
            return None  # variable errors: graphql-core reports them
        variant = variant_key(plan, executor)
        if variant in plan.variants:
            compiled = plan.variants[variant]
        else:
            try:
                compiled = compile_operation(schema, executor, render=self.render)
            except NotPlannable as reason:
                logger.debug("not planned: %s", reason)
                compiled = None
            except Exception:
                # A planner fault must not fail the request: graphql-core runs it instead.
                logger.exception("query plan compilation failed")
                compiled = None
            if len(plan.variants) < MAX_VARIANTS:
                plan.variants[variant] = compiled
        if compiled is None:
            return None
        return executor, compiled


def compiled_plan_extension(cache_size: int, render: bool = False) -> Callable[[], CompiledPlan]:
    """A per-request factory sharing one plan cache, as Strawberry wants extensions."""
    cache = PlanCache(cache_size)
    factory: Callable[[], CompiledPlan] = lambda: CompiledPlan(cache, render)  # noqa: E731
    factory.cache = cache  # type: ignore[attr-defined]
    return factory
