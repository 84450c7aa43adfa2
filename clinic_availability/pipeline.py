"""The request pipeline: one pure ASGI layer outside everything else.

Per request, in order: the request id (a plain ``X-Request-ID`` is kept, otherwise one is
made) set for logs and error bodies; a CORS preflight answered; the body cap (413); the
app; then, on ``http.response.start``, the id, security and CORS headers added; one
access-log line and the metrics once the reply is done. An exception that no handler took
becomes the contract's 500 (503 with ``Retry-After`` for a lost database) here, so this
layer replaces Starlette's ``ServerErrorMiddleware``, which would answer in plain text and
hand the exception (with its message) to the server's log.

Everything that is the same for every request (header byte strings, CORS replies, the
static-files prefix) is built once, when the app builds its middleware stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from time import perf_counter

import orjson
from fastapi import FastAPI
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clinic_availability.logging import (
    RequestInfo,
    log_request,
    request_info_var,
    route_template,
)
from common.asgi import buffered_receive
from common.db_errors import is_connection_loss
from common.request_context import new_request_id, request_id_var
from models.platform.errors import DomainError, ServiceUnavailable

logger = logging.getLogger("clinic_availability.errors")

Headers = list[tuple[bytes, bytes]]

REQUEST_ID = b"x-request-id"
CACHE_CONTROL = b"cache-control"
NOSNIFF = (b"x-content-type-options", b"nosniff")
NO_STORE = (CACHE_CONTROL, b"no-store")
JSON_TYPE = (b"content-type", b"application/json")
CLOSE = (b"connection", b"close")

TOO_LARGE_BODY = orjson.dumps({"errors": "Request body too large"})
# How much of a refused body is read (and dropped) so the client reads its 413.
DRAIN_MAX_BYTES = 16 * 1_048_576
DRAIN_MAX_SECONDS = 10.0
# Allowed in a CORS request besides the CORS-safelisted ones.
CORS_REQUEST_HEADERS = (
    "X-User-Token",
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "X-Request-ID",
)
# Response headers a cross-origin script may read: pagination, idempotency, the id.
CORS_EXPOSED_HEADERS = (
    "X-Total-Count",
    "X-Page",
    "X-Page-Size",
    "X-Total-Pages",
    "Link",
    "X-Request-ID",
    "Idempotent-Replayed",
    "Retry-After",
    "Location",
)
CORS_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
CORS_MAX_AGE_SECONDS = 600


class Cors:
    """Which origins may call from a browser, and the header bytes answering them."""

    def __init__(self, origins: Iterable[str]) -> None:
        listed = {origin.strip().rstrip("/") for origin in origins if origin.strip()}
        self.any_origin = "*" in listed
        self.origins = frozenset(origin.encode("latin-1") for origin in listed - {"*"})
        self.enabled = self.any_origin or bool(self.origins)
        self.reply_headers: Headers = [
            (b"access-control-expose-headers", ", ".join(CORS_EXPOSED_HEADERS).encode()),
            (b"vary", b"Origin"),
        ]
        self.preflight_headers: Headers = [
            (b"access-control-allow-methods", ", ".join(CORS_METHODS).encode()),
            (b"access-control-allow-headers", ", ".join(CORS_REQUEST_HEADERS).encode()),
            (b"access-control-max-age", str(CORS_MAX_AGE_SECONDS).encode()),
            (b"vary", b"Origin"),
            (b"content-length", b"0"),
        ]

    def allowed(self, origin: bytes | None) -> bool:
        return origin is not None and (self.any_origin or origin in self.origins)


def _unexpected_reply(scope: Scope, exc: Exception) -> tuple[int, bytes, Headers]:
    if isinstance(exc, DomainError):  # raised outside a route (by a middleware)
        error: DomainError | None = exc
    elif is_connection_loss(exc):
        logger.warning("database unavailable: %s", type(exc).__name__)
        error = ServiceUnavailable()
    else:
        # Type and stack only reach the log (the formatter drops exception messages,
        # which can quote stored values); the body and query string are never logged.
        logger.error(
            "unhandled error on %s %s",
            scope.get("method"),
            scope.get("path"),
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        error = None
    if error is None:
        body = {"errors": "Internal server error", "request_id": request_id_var.get()}
        return 500, orjson.dumps(body), []
    extra: Headers = [(b"retry-after", b"1")] if isinstance(error, ServiceUnavailable) else []
    return error.status, orjson.dumps(error.body()), extra


class RequestPipeline:
    """Request id, CORS, body cap, security headers, last-resort errors, log and metrics."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        cors: Cors,
        static_prefix: str,
        observe: Callable[[RequestInfo], None] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.cors = cors
        self.static_prefix = static_prefix
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered: str | None = None
        origin: bytes | None = None
        declared: int | None = None
        has_body = scope["method"] not in ("GET", "HEAD", "OPTIONS")
        for name, value in scope["headers"]:
            if name == REQUEST_ID:
                offered = value.decode("latin-1")
            elif name == b"origin":
                origin = value
            elif name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
                has_body = declared != 0
            elif name == b"transfer-encoding":
                has_body = True
        request_id = request_id_var.get() or new_request_id(offered)
        info = RequestInfo(request_id=request_id, method=scope["method"])
        id_token = request_id_var.set(request_id)
        info_token = request_info_var.set(info)

        added: Headers = [(REQUEST_ID, request_id.encode("latin-1")), NOSNIFF]
        cache = not str(scope["path"]).startswith(self.static_prefix)
        cors = origin is not None and self.cors.allowed(origin)
        if cors:
            allowed = b"*" if self.cors.any_origin else bytes(origin or b"")
            added.append((b"access-control-allow-origin", allowed))
            added.extend(self.cors.reply_headers)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                info.status = message["status"]
                headers: Headers = []
                set_cache = cache
                for name, value in message.get("headers", ()):
                    lowered = name.lower()
                    if lowered == CACHE_CONTROL:
                        set_cache = False
                    elif lowered in (REQUEST_ID, NOSNIFF[0]):
                        continue
                    headers.append((name, value))
                headers.extend(added)
                if set_cache:
                    headers.append(NO_STORE)
                message = {**message, "headers": headers}
            await send(message)

        async def reply(status: int, body: bytes, extra: Headers) -> None:
            headers = [JSON_TYPE, (b"content-length", str(len(body)).encode()), *extra]
            await send_with_headers(
                {"type": "http.response.start", "status": status, "headers": headers}
            )
            await send_with_headers({"type": "http.response.body", "body": body})

        root_path = str(scope.get("root_path", ""))
        began = perf_counter()
        try:
            if (
                cors
                and scope["method"] == "OPTIONS"
                and any(name == b"access-control-request-method" for name, _ in scope["headers"])
            ):
                await send_with_headers(
                    {
                        "type": "http.response.start",
                        "status": 204,
                        "headers": list(self.cors.preflight_headers),
                    }
                )
                await send_with_headers({"type": "http.response.body", "body": b""})
                return
            if has_body:
                too_large = declared is not None and declared > self.max_body_bytes
                body = None if too_large else await _read_body(receive, self.max_body_bytes)
                if body is None:
                    if declared is None or declared <= DRAIN_MAX_BYTES:
                        await _drain(receive)
                    await reply(413, TOO_LARGE_BODY, [CLOSE])
                    return
                receive = buffered_receive(body, receive)
            try:
                await self.app(scope, receive, send_with_headers)
            except Exception as exc:
                if started:
                    raise
                await reply(*_unexpected_reply(scope, exc))
        finally:
            info.duration_s = perf_counter() - began
            info.route = route_template(scope, root_path)
            self._finish(info)
            request_info_var.reset(info_token)
            request_id_var.reset(id_token)

    def _finish(self, info: RequestInfo) -> None:
        if self.observe is not None:
            try:
                self.observe(info)
            except Exception:
                logger.exception("recording request metrics failed")
        log_request(info)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it exceeds ``limit`` bytes.

    Read here in full (it is small by then), so no route can be made to buffer an
    unbounded stream, and no layer inside has to count bytes again.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _drain(receive: Receive) -> None:
    """Read and drop the rest of a refused body, up to a bound of bytes and of time.

    A client that is still sending when the server closes the connection gets a reset,
    which can destroy the 413 before it is read; once its body is in, the close is clean.
    """
    size = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_MAX_SECONDS):
            while size <= DRAIN_MAX_BYTES:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                size += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return


class PipelinedApp(FastAPI):
    """FastAPI with :class:`RequestPipeline` as its outermost (and last-resort) layer.

    The app sets ``state.pipeline`` (a factory wrapping the inner stack) before the first
    request; Starlette builds the stack then.
    """

    def build_middleware_stack(self) -> ASGIApp:
        inner = super().build_middleware_stack()
        # The pipeline answers what this layer would have, in the contract's shape.
        if isinstance(inner, ServerErrorMiddleware) and not self.debug:
            inner = inner.app
        wrap: Callable[[ASGIApp], ASGIApp] | None = getattr(self.state, "pipeline", None)
        return wrap(inner) if wrap is not None else inner
