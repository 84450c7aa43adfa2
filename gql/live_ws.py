"""graphql-transport-ws with the service's authentication and bounds.

The admin token comes in the ``connection_init`` payload (``{"X-User-Token": "..."}``):
none or an unknown one closes the socket with 4401, a non-admin's with 4403. The token is
checked again every ``RECHECK_SECONDS``, so a revoked token's sockets close within a
minute. A process serves at most ``SUBSCRIPTION_MAX_SOCKETS`` sockets (more close 4429).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from graphql import GraphQLError, OperationType
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.websockets import WebSocketDisconnect
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

from common.request_context import new_request_id, request_id_var
from gql.context import Context
from gql.documents import DocumentRefused
from gql.limits import operation_type
from models.platform.errors import DomainError, Forbidden
from models.platform.users import Principal, authenticate

MAX_SUBSCRIPTIONS_PER_SOCKET = 10
RECHECK_SECONDS = 30.0
TOKEN_KEYS = ("x-user-token", "token", "authorization")
QUERY_OVER_WEBSOCKET = (
    "Only subscriptions run over WebSocket: send queries and mutations with POST /graphql"
)


def _token(payload: dict[str, Any]) -> str | None:
    for key, value in payload.items():
        if isinstance(key, str) and key.lower() in TOKEN_KEYS and isinstance(value, str):
            return value.removeprefix("Bearer ").strip() or None
    return None


class _SocketCount:
    open = 0


class LiveWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    recheck_task: asyncio.Task[None] | None = None
    counted = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The request id of each operation in flight, by its id on the socket.
        self.request_ids: dict[str, str] = {}

    @property
    def _state(self) -> Any:
        connection: Any = self.context.request
        return connection.app.state

    async def handle(self) -> None:
        limit = self.context.settings.subscription_max_sockets
        if _SocketCount.open >= limit:
            await self.websocket.close(code=4429, reason="Too many sockets")
            return
        _SocketCount.open += 1
        self.counted = True
        try:
            await super().handle()
        finally:
            _SocketCount.open -= 1

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """Subscriptions only: a query or mutation belongs on POST /graphql, where the
        request limits, Idempotency-Key and the audit's request id apply."""
        if not self.connection_acknowledged:
            await super().handle_subscribe(message)
            return
        request_id = new_request_id()
        self.request_ids[message["id"]] = request_id
        resolved = await self._with_document(message)
        if resolved is None:
            return
        message = resolved
        payload: Any = message.get("payload") or {}
        policy = getattr(self.view, "limit_policy", None)
        kind = (
            operation_type(payload.get("query"), payload.get("operationName"), policy)
            if isinstance(payload, dict) and policy is not None
            else None
        )
        if kind is not None and kind is not OperationType.SUBSCRIPTION:
            error = GraphQLError(
                QUERY_OVER_WEBSOCKET,
                extensions={"code": "BAD_REQUEST", "status": 400, "errors": QUERY_OVER_WEBSOCKET},
            )
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        # The operation's task inherits the id: its log lines and errors carry it.
        token = request_id_var.set(request_id)
        try:
            await super().handle_subscribe(message)
        finally:
            request_id_var.reset(token)

    async def send_message(self, message: Any) -> None:
        # Every error names its operation's request id, as an HTTP reply's header does.
        ident = message.get("id") if isinstance(message, dict) else None
        request_id = self.request_ids.get(ident) if isinstance(ident, str) else None
        if request_id is not None:
            payload = message.get("payload")
            errors = payload if message["type"] == "error" else (payload or {}).get("errors")
            for error in errors or ():
                error.setdefault("extensions", {}).setdefault("request_id", request_id)
            if message["type"] in ("complete", "error"):
                self.request_ids.pop(message["id"], None)
        # The protocol wants text frames; the router's JSON encoder makes bytes for HTTP.
        socket: Any = self.websocket
        try:
            await socket.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    async def shutdown(self) -> None:
        if self.recheck_task is not None:
            self.recheck_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.recheck_task
        await super().shutdown()

    async def _authenticate(self, token: str | None) -> Principal:
        sessionmaker: async_sessionmaker[AsyncSession] = self._state.sessionmaker
        async with sessionmaker() as session:
            return await authenticate(
                session, token, cache_seconds=self.context.settings.token_cache_seconds
            )

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload") or {}
        if isinstance(payload, dict) and not self.connection_init_received:
            token = _token(payload)
            try:
                principal = await self._authenticate(token)
            except DomainError as exc:
                self.connection_init_received = True
                if self.connection_init_timeout_task:
                    self.connection_init_timeout_task.cancel()
                code = 4403 if isinstance(exc, Forbidden) else 4401
                await self.websocket.close(code=code, reason=exc.detail)
                return
            self.context.token = token
            self.context._principal = principal
            self.recheck_task = asyncio.create_task(self._recheck(token))
        await super().handle_connection_init(message)

    async def _with_document(self, message: SubscribeMessage) -> SubscribeMessage | None:
        """Documents by id or hash, and trusted mode, as over HTTP (gql/documents.py);
        None once a refusal is sent."""
        documents = getattr(self.view, "documents", None)
        principal = self.context._principal
        payload: Any = message.get("payload")
        if (
            documents is not None
            and principal is not None
            and isinstance(payload, dict)
            and isinstance(payload.get("query"), str | None)
            and documents.involved(payload.get("documentId"), payload.get("extensions"))
        ):
            extensions = payload.get("extensions")
            async with self._state.sessionmaker() as session:
                text = await documents.resolve(
                    session,
                    principal,
                    query=payload.get("query"),
                    document_id=payload.get("documentId"),
                    extensions=extensions if isinstance(extensions, dict) else None,
                )
            if isinstance(text, DocumentRefused):
                error = {
                    "id": message["id"],
                    "type": "error",
                    "payload": [text.body()["errors"][0]],
                }
                await self.send_message(error)
                return None
            message = {**message, "payload": {**payload, "query": text}}
        return message

    async def _recheck(self, token: str | None) -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            try:
                await self._authenticate(token)
            except DomainError as exc:
                code = 4403 if isinstance(exc, Forbidden) else 4401
                await self.websocket.close(code=code, reason=exc.detail)
                return
            except Exception:  # the database is away: keep the socket, try again later
                continue
