"""The GraphQL endpoint mounted on FastAPI, speaking GraphQL over HTTP.

Replies are JSON, errors included, as ``application/json`` or, when the client accepts it,
``application/graphql-response+json`` (with which a request error, one that stops the
operation before it runs, answers 4xx without ``data``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
from cross_web import HTTPException
from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from graphql import OperationType
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection
from strawberry.extensions import SchemaExtension
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.async_base_view import AsyncHTTPRequestAdapter
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from common import json_nesting
from common.deps import SessionDep
from common.settings import Settings
from common.text_checks import holds_invalid_unicode
from gql.context import Context, ContextFactory, token_from
from gql.documents import DocumentRefused, DocumentRegistry, document_policy
from gql.errors import refusal_error
from gql.idempotency import IDEMPOTENCY_HEADER, ReplayedResult, run_idempotently
from gql.limits import LimitPolicy, operation_label, operation_type
from gql.live_ws import MAX_SUBSCRIPTIONS_PER_SOCKET, LiveWSHandler
from gql.media import GRAPHQL_RESPONSE, JSON, negotiate
from gql.schema import build_schema, limit_policy

IdePage = Callable[[Request], Awaitable[HTMLResponse]]

INVALID_UNICODE = "The request is not valid Unicode text"
SUBSCRIPTION_OVER_HTTP = "subscriptions are served over WebSocket at /graphql"
UNKNOWN_OPERATION = "The operation name matches no operation of the document"
_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


def error_reply(status: int, message: str, media_type: str = JSON) -> Response:
    """A request the endpoint cannot run at all, as a JSON error list."""
    code = _CODES.get(status, "BAD_REQUEST")
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(orjson.dumps(body), status_code=status, media_type=media_type)


def refused_reply(refused: DocumentRefused, media_type: str = JSON) -> Response:
    """A request whose document may not run (unknown id, hash mismatch, untrusted text)."""
    return Response(
        orjson.dumps(refused.body()),
        status_code=refused.status,
        media_type=media_type,
        headers=dict(refused.headers),
    )


class _Refused(Exception):
    def __init__(self, refused: DocumentRefused) -> None:
        super().__init__(refused.message)
        self.refused = refused


@dataclass
class DocumentRequestData(GraphQLRequestData):
    """A request's data with the ``documentId`` it names (GraphQL over HTTP, Appendix A)."""

    document_id: object = None


def _is_request_error(result: ExecutionResult) -> bool:
    """The operation never ran (document, variables or caller refused): no ``data``."""
    return (
        result.data is None
        and bool(result.errors)
        and all(not error.path for error in result.errors or ())
    )


def _request_error_status(result: ExecutionResult) -> int:
    statuses = {(error.extensions or {}).get("status") for error in result.errors or ()}
    status = statuses.pop() if len(statuses) == 1 else None
    return status if isinstance(status, int) and 400 <= status < 600 else 400


class ExplorerRouter(GraphQLRouter[Context, None]):
    """Strawberry's router with JSON error replies, media type negotiation, refusal of text
    that is not Unicode, idempotent mutations, and the application's own GraphiQL page."""

    ide_page: IdePage | None = None
    # The context of one request, for callers that run the view without FastAPI's routing.
    make_context: ContextFactory | None = None
    graphql_transport_ws_handler_class = LiveWSHandler
    limit_policy: LimitPolicy | None = None
    # Told the name and type of each operation refused before it runs (log and metrics).
    refusal_observer: Callable[[str | None, str], None] | None = None
    # Persisted and trusted documents; None serves text alone.
    documents: DocumentRegistry | None = None

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET naming a document by id or by hash is an operation, not a page.
        params = request.query_params
        return (
            params.get("documentId") is None
            and params.get("extensions") is None
            and super().should_render_graphql_ide(request)
        )

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        if self.ide_page is not None:
            return await self.ide_page(request)
        return await super().render_graphql_ide(request)

    def encode_json(self, data: object) -> bytes:
        # Same JSON as the stdlib's compact form, as the REST routes write it.
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return json_nesting.loads(data)
        except UnicodeDecodeError as exc:  # bytes that are not UTF-8 (nor UTF-16/32)
            raise HTTPException(400, INVALID_UNICODE) from exc
        except json_nesting.TooDeeplyNested as exc:
            # Refused before anything else looks at it (each later step would recurse).
            raise HTTPException(400, str(exc)) from exc

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if self.is_websocket_request(request):
            return await super().run(request, context, root_value)
        media_type = negotiate(request.headers.get("accept"))
        request.state.graphql_media_type = media_type
        try:
            response = await super().run(request, context, root_value)
        except HTTPException as exc:
            return error_reply(exc.status_code, exc.reason, media_type)
        except _Refused as exc:
            return refused_reply(exc.refused, media_type)
        status = getattr(request.state, "graphql_status", None)
        if media_type == GRAPHQL_RESPONSE and status is not None:
            response.headers["content-type"] = GRAPHQL_RESPONSE
            if response.status_code == 200:
                response.status_code = status
        return response

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        data = await super().parse_http_body(request)
        for item in data if isinstance(data, list) else [data]:
            parts = (item.query, item.operation_name, item.variables, item.extensions)
            if holds_invalid_unicode(list(parts)):
                # Refused before anything else: no reply, log line or database can hold it.
                raise HTTPException(400, INVALID_UNICODE)
        if isinstance(data, GraphQLRequestData) and self.documents is not None:
            document_id = await self._document_id(request)
            if document_id is not None:
                if holds_invalid_unicode([document_id]):
                    raise HTTPException(400, INVALID_UNICODE)
                return DocumentRequestData(
                    query=data.query,
                    variables=data.variables,
                    operation_name=data.operation_name,
                    extensions=data.extensions,
                    protocol=data.protocol,
                    document_id=document_id,
                )
        return data

    async def _document_id(self, request: AsyncHTTPRequestAdapter) -> object:
        if request.method == "GET":
            return request.query_params.get("documentId")
        body = await request.get_body()
        if b"documentId" not in body:  # the body was parsed already: only look when named
            return None
        data = self.decode_json(body)
        return data.get("documentId") if isinstance(data, dict) else None

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        # The caller first: a stranger learns nothing of the schema, not even whether the
        # document parses or names fields that exist; a non-admin may run nothing at all.
        try:
            principal = await context.require_admin()
        except Exception as exc:
            refusal = refusal_error(exc, context)
            self._observe_refusal(request_data)
            return ExecutionResult(data=None, errors=[refusal])
        documents = self.documents
        document_id = getattr(request_data, "document_id", None)
        if documents is not None and documents.involved(document_id, request_data.extensions):
            text = await documents.resolve(
                context.session,
                principal,
                query=request_data.query,
                document_id=document_id,
                extensions=request_data.extensions,
            )
            if isinstance(text, DocumentRefused):
                raise _Refused(text)
            request_data = replace(request_data, query=text)
        if self._is_subscription(request_data):
            raise HTTPException(400, SUBSCRIPTION_OVER_HTTP)

        async def execute() -> ExecutionResult:
            try:
                return await super(ExplorerRouter, self).execute_single(
                    request, request_adapter, sub_response, context, root_value, request_data
                )
            except HTTPException as exc:
                if isinstance(exc.__cause__, CannotGetOperationTypeError):
                    # Never echo the name: the reply would repeat whatever was sent.
                    raise HTTPException(400, UNKNOWN_OPERATION) from exc
                raise

        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None or request_adapter.method != "POST":
            return await execute()
        return await run_idempotently(
            key,
            user_id=principal.user_id,
            request_data=request_data,
            context=context,
            execute=execute,
            reply_body=lambda result: self._reply_body(request, result),
        )

    def _observe_refusal(self, request_data: GraphQLRequestData) -> None:
        if self.refusal_observer is not None and self.limit_policy is not None:
            name, kind = operation_label(
                request_data.query, request_data.operation_name, self.limit_policy
            )
            self.refusal_observer(name, kind)

    def _is_subscription(self, request_data: GraphQLRequestData) -> bool:
        policy = self.limit_policy
        if policy is None:
            return False
        kind = operation_type(request_data.query, request_data.operation_name, policy)
        return kind is OperationType.SUBSCRIPTION

    def _reply_body(
        self, request: Request, result: ExecutionResult
    ) -> tuple[GraphQLHTTPResponse, int]:
        """The reply's body and status: a request error under graphql-response+json has no
        ``data`` and a 4xx status; everything else is 200 (or 503, set by DomainErrors)."""
        body: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            body["errors"] = [error.formatted for error in result.errors]
        if result.extensions:
            body["extensions"] = result.extensions
        media_type = getattr(request.state, "graphql_media_type", JSON)
        if media_type == GRAPHQL_RESPONSE and _is_request_error(result):
            del body["data"]
            return body, _request_error_status(result)
        return body, 200

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        if isinstance(result, ReplayedResult):
            body, status = result.body, result.status
        else:
            body, status = self._reply_body(request, result)
        request.state.graphql_status = status
        return body


def graphql_router(
    settings: Settings,
    *,
    ide_page: IdePage | None = None,
    extensions: Sequence[type[SchemaExtension]] = (),
) -> ExplorerRouter:
    """The router; the application passes its explorer page and observing extensions."""

    def make_context(
        request: HTTPConnection, session: AsyncSession, token: str | None = None
    ) -> Context:
        token = token if token is not None else token_from(request)
        return Context(settings=settings, session=session, token=token)

    async def context_getter(request: HTTPConnection, session: SessionDep) -> Context:
        return make_context(request, session)

    schema = build_schema(settings)
    schema.extensions = (*schema.extensions, *extensions)
    router = ExplorerRouter(
        schema,
        graphql_ide="graphiql" if settings.graphiql else None,
        context_getter=context_getter,
        subscription_protocols=("graphql-transport-ws",),
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_SOCKET,
    )
    router.ide_page = ide_page
    router.limit_policy = limit_policy(settings)
    router.documents = DocumentRegistry(
        schema._schema,
        document_policy(
            limit_policy(settings),
            trusted_only=settings.graphql_trusted_documents == "only",
            exempt_user_ids=settings.graphql_trusted_documents_exempt_users,
            cache_seconds=settings.graphql_document_cache_seconds,
        ),
    )
    router.make_context = make_context
    return router


__all__ = [
    "DocumentRequestData",
    "ExplorerRouter",
    "error_reply",
    "graphql_router",
    "refused_reply",
]
