"""Queries whose document is already compiled, answered without Strawberry's view.

A ``POST /graphql`` is answered here only when everything about it is plain: a JSON body
of ``query`` (and ``variables``, ``operationName``), ``application/json`` both ways, no
idempotency key, an admin token found in the token cache (first: nothing about the
document is looked at for a caller without one), a document the view has already
compiled to a plan whose every root field the database renders, the limits the view
checks each request (cost, with these variables) passed, and variables graphql-core
coerces without error. Persisted documents (``documentId``, Apollo's ``persistedQuery``, any
text under trusted documents) are the view's: it resolves them once the caller is known.
It then runs the plan as the view would and writes the same reply.
Anything else, an answer with errors included, is left to the view, which answers it.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from graphql import GraphQLSchema
from graphql.execution.executor import Executor
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import Message, Receive, Scope
from strawberry.execution import optimized_is_awaitable

from common.request_context import set_principal
from common.settings import Settings
from common.text_checks import holds_invalid_unicode, invalid_text_field
from gql.context import Context, token_from
from gql.documents import DocumentRegistry
from gql.idempotency import IDEMPOTENCY_HEADER
from gql.limits import limit_errors, measure, nul_argument
from gql.media import JSON, negotiate
from gql.plan.extension import PlanCache, run_plan, variant_key
from gql.schema import limit_policy
from models.platform.users import cached_admin

BODY_KEYS = frozenset({"query", "variables", "operationName"})
OnAnswer = Callable[[str | None], None]


class FastQueries:
    def __init__(
        self,
        *,
        schema: GraphQLSchema,
        cache: PlanCache,
        make_context: Callable[[HTTPConnection, AsyncSession], Context],
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

    async def answer(self, scope: Scope, body: bytes) -> Response | None:
        """The reply, or None when the view must answer."""
        headers = Headers(scope=scope)
        if headers.get("content-type") != JSON or IDEMPOTENCY_HEADER in headers:
            return None
        if negotiate(headers.get("accept")) != JSON:
            return None
        connection = HTTPConnection(scope)
        token = token_from(connection)
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
            return None  # documentId and extensions (persistedQuery) included
        if self.documents is not None and self.documents.involved(None, None):
            return None  # trusted documents: the view tells registered text from the rest
        query, variables, name = data.get("query"), data.get("variables"), data.get("operationName")
        if (
            type(query) is not str
            or (variables is not None and type(variables) is not dict)
            or (name is not None and type(name) is not str)
        ):
            return None
        _found, plan = self.cache.get((query, name))
        if plan is None:
            return None
        if holds_invalid_unicode([query, name, variables]):
            return None
        document = plan.document
        figures = measure(
            self.schema,
            document,
            variables=variables,
            operation_name=name,
            default_page_size=self.policy.default_page_size,
        )
        if (
            limit_errors(figures, self.policy)
            or nul_argument(document)
            or invalid_text_field(variables or {})
        ):
            return None
        async with self.sessionmaker() as session:
            context = self.make_context(connection, session)
            context._principal = principal
            executor = Executor.build(
                self.schema,
                document,
                None,
                context,
                variables,
                name,
                is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
            )
            if isinstance(executor, list):
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
        self.answered += 1
        if self.on_answer is not None:
            operation = executor.operation.name
            self.on_answer(operation.value if operation is not None else None)
        return Response(orjson.dumps({"data": result.data}), media_type=JSON)


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ConnectionAbortedError
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` handing the body read already to the next application, then the
    connection's own messages."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
