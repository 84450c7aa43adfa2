"""Queries whose document is already compiled, answered without Strawberry's view.

A ``POST /graphql`` is answered here only when everything about it is plain: a JSON body
of ``query`` or a document's id (and ``variables``, ``operationName``),
``application/json`` both ways, no idempotency key, an admin token found in the token
cache (first: nothing about the document is looked at for a caller without one), a
document the view has already compiled to a plan whose every root field the database
renders, the limits the view checks each request (cost, with these variables) passed,
and variables graphql-core coerces without error. The limits are measured once per
document and page sizes given. A document named alone (``documentId``, or Apollo's
``persistedQuery`` hash without text) goes the same way when the documents' process
cache holds its text, as the view would find it; a name it does not hold, text under
trusted documents and anything else about persisted documents are the view's, which
resolves them once the caller is known.
It then runs the plan as the view would and writes the same reply.
Anything else, an answer with errors included, is left to the view, which answers it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from graphql import GraphQLSchema, NameNode
from graphql.execution.executor import Executor
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection
from starlette.types import Receive, Scope, Send
from strawberry.execution import optimized_is_awaitable

from common.request_context import set_principal
from common.settings import Settings
from common.text_checks import invalid_text_field
from common.tokens import token_of
from gql.context import Context, ContextFactory
from gql.documents import DocumentRegistry
from gql.idempotency import IDEMPOTENCY_HEADER
from gql.limits import limit_errors, measure, nul_argument, page_variables
from gql.media import JSON, negotiate
from gql.plan.extension import DocumentPlan, PlanCache, run_plan, variant_key, variant_of
from gql.plan.lean import run_lean
from gql.plan.prepared import Coerced, PreparedOperation
from gql.schema import limit_policy
from models.platform.sessions import RequestSession
from models.platform.users import cached_admin

BODY_KEYS = frozenset({"query", "variables", "operationName", "documentId", "extensions"})
# Figures kept per document, by the page sizes requests give.
MAX_CHECKED = 64
_ABSENT = object()
_SCALARS = (type(None), int, float, str, bool)
_NUL_ESCAPE = b"\\u0000"
OnAnswer = Callable[[str | None], None]


_IDEMPOTENCY = IDEMPOTENCY_HEADER.encode("latin-1")
# The request headers the lane reads, each by its first occurrence (as Starlette's
# ``Headers.get``), found in one pass.
_HEAD = frozenset((b"content-type", b"accept", b"x-user-token", b"authorization", _IDEMPOTENCY))


def _head(scope: Scope) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _HEAD and name not in found:
            found[name] = value.decode("latin-1")
    return found


class FastQueries:
    def __init__(
        self,
        *,
        schema: GraphQLSchema,
        cache: PlanCache,
        make_context: ContextFactory,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        on_answer: OnAnswer | None = None,
        documents: DocumentRegistry | None = None,
    ) -> None:
        self.schema = schema
        self.cache = cache
        self.make_context = make_context
        self.sessionmaker = sessionmaker
        self.engine = sessionmaker.kw.get("bind")
        self.settings = settings
        self.policy = limit_policy(settings)
        self.on_answer = on_answer
        self.documents = documents
        self.answered = 0  # requests answered here, for tests and diagnostics
        # Of those, answered by the lean roots (``gql.plan.lean``); and requests the lean
        # roots left to the view (a refusal, a variable they do not take as given).
        self.lean_answered = 0
        self.lean_declined = 0

    async def answer(self, scope: Scope, body: bytes) -> JSONReply | None:
        """The reply, or None when the view must answer."""
        head = _head(scope)
        if head.get(b"content-type") != JSON or _IDEMPOTENCY in head:
            return None
        if negotiate(head.get(b"accept")) != JSON:
            return None
        token = token_of(head.get(b"x-user-token"), head.get(b"authorization"))
        if token is None:
            return None
        principal = cached_admin(
            self.engine, token, cache_seconds=self.settings.token_cache_seconds
        )
        if principal is None:
            return None
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if type(data) is not dict or not data.keys() <= BODY_KEYS:
            return None
        query, variables, name = data.get("query"), data.get("variables"), data.get("operationName")
        document_id, extensions = data.get("documentId"), data.get("extensions")
        documents = self.documents
        if document_id is not None or extensions is not None:
            # A document named alone, whose text this process holds: the text it names.
            if query is not None or documents is None:
                return None
            query = documents.known_text(document_id, extensions)
        elif documents is not None and documents.policy.trusted_only:
            return None  # trusted documents: the view tells registered text from the rest
        if (
            type(query) is not str
            or (variables is not None and type(variables) is not dict)
            or (name is not None and type(name) is not str)
        ):
            return None
        _found, plan = self.cache.get((query, name))
        if plan is None:
            return None
        # The view plans a query and operation name only once it found them Unicode text;
        # what else the request holds is checked here (no lone surrogate, no NUL). JSON
        # that orjson reads holds neither but through a ``\u0000`` escape (it refuses
        # lone surrogates and raw control characters).
        if (
            _NUL_ESCAPE in body
            and invalid_text_field([variables, document_id, extensions]) is not None
        ):
            return None
        if not self._within_limits(plan, variables, name):
            return None
        request_session = RequestSession(self.sessionmaker)
        async with request_session as session:
            context = self.make_context(HTTPConnection(scope), session, token)
            context._principal = principal
            prepared = plan.prepared
            values = prepared.values(variables) if prepared is not None else None
            if prepared is not None and values is not None:
                compiled = plan.variants.get(variant_of(plan, values))
                if compiled is not None and compiled.lean is not None:
                    set_principal(principal)
                    data = await run_lean(compiled.lean, context, values)
                    if data is None:
                        self.lean_declined += 1
                        return None
                    self.lean_answered += 1
                    self.cache.rendered += len(compiled.lean)
                    # The renderers were awaited one by one: nothing they started holds
                    # the session now. (graphql-core's executor may leave a field's task
                    # running past an error, so its session is never handed on.)
                    request_session.reuse = True
                    return self._reply(data, prepared.operation.name)
            found = (
                prepared.coerce(variables, values)
                if prepared is not None and values is not None
                else None
            )
            executor = self._executor(plan, context, variables, name, found)
            if executor is None:
                return None
            compiled = plan.variants.get(variant_key(plan, executor))
            if compiled is None or any(
                root.field_def is not None and root.picks is None for root in compiled.roots
            ):
                return None
            set_principal(principal)
            result = await run_plan(executor, compiled, self.cache, True)
        if result.errors:
            return None
        return self._reply(result.data, executor.operation.name)

    def _reply(self, data: Any, operation: NameNode | None) -> JSONReply:
        self.answered += 1
        if self.on_answer is not None:
            self.on_answer(operation.value if operation is not None else None)
        return JSONReply(orjson.dumps({"data": data}))

    def _executor(
        self,
        plan: DocumentPlan,
        context: Context,
        variables: dict[str, Any] | None,
        name: str | None,
        coerced: Coerced | None = None,
    ) -> Executor | None:
        """The executor graphql-core builds for this request; None on variable errors."""
        prepared = plan.prepared
        if prepared is not None:
            executor = prepared.executor(context, variables, coerced)
            if executor is not None:
                return executor
        built = Executor.build(
            self.schema,
            plan.document,
            None,
            context,
            variables,
            name,
            is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
        )
        if isinstance(built, list):
            return None
        if prepared is None and plan.preparable:
            plan.prepared = PreparedOperation.of(built)
            plan.preparable = plan.prepared is not None
        return built

    def _within_limits(
        self, plan: DocumentPlan, variables: dict[str, Any] | None, name: str | None
    ) -> bool:
        """What the view checks of every request's document (depth, aliases, cost with
        these variables; no NUL in a literal), measured once per document and page size."""
        names = plan.page_variables
        if names is None:
            names = plan.page_variables = page_variables(plan.document)
        if not names:  # the figures do not depend on the variables
            known = plan.checked.get((name,))
            if known is not None:
                return known
        given = variables or {}
        values = [given.get(variable, _ABSENT) for variable in names]
        key: tuple[Any, ...] | None = None
        if all(value is _ABSENT or type(value) in _SCALARS for value in values):
            key = (name, *((type(value), value) for value in values))
            known = plan.checked.get(key)
            if known is not None:
                return known
        figures = measure(
            self.schema,
            plan.document,
            variables=variables,
            operation_name=name,
            default_page_size=self.policy.default_page_size,
        )
        passed = not limit_errors(figures, self.policy) and nul_argument(plan.document) is None
        if key is not None:
            if len(plan.checked) >= MAX_CHECKED:
                plan.checked.clear()
            plan.checked[key] = passed
        return passed


class JSONReply:
    """A 200 with a JSON body, sent as Starlette's ``Response(body, media_type=JSON)``
    sends it (the same headers in the same order), without its per-response setup."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-length", str(len(self.body)).encode()), _JSON_TYPE]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


_JSON_TYPE = (b"content-type", JSON.encode("latin-1"))


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ConnectionAbortedError
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
