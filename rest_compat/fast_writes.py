"""The REST face's most frequent writes, answered without the framework's per-request work.

``POST /books``, ``POST /books/{id}/reschedule`` and ``POST /available_slots`` with a
recently authenticated admin token, a plain JSON body (``Content-Type:
application/json``, only the route's own fields, scalar values, no ``\\u`` escape) and
no ``Idempotency-Key`` call the very route functions FastAPI would call, with the body
model validated as FastAPI validates it. Anything else (another token, a query string, a
body the model refuses or that holds anything unusual) goes on to the full stack, which
answers it, refusals included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from common.settings import Settings
from common.strict_numbers import plain_id
from models.platform.users import Principal
from rest_compat import books, slots
from rest_compat.fast_reads import TOKEN_HEADERS, answer_taken, lane_admin
from rest_compat.limits import buffered_receive, read_body

JSON_TYPE = b"application/json"
RESCHEDULE_SUFFIX = "/reschedule"


@dataclass(frozen=True, slots=True)
class _Route:
    template: str
    body: type[BaseModel]
    # The body's one key and the fields its object may hold.
    root: str
    fields: frozenset[str]
    call: Callable[..., Awaitable[Response]]


def _fields(model: type[BaseModel], root: str) -> frozenset[str]:
    inner = model.model_fields[root].annotation
    assert isinstance(inner, type) and issubclass(inner, BaseModel)
    return frozenset(inner.model_fields)


async def _create_book(body: Any, principal: Principal, session: AsyncSession, **kw: Any) -> Any:
    return await books.create_book(body, principal, session, kw["settings"])


async def _reschedule(body: Any, principal: Principal, session: AsyncSession, **kw: Any) -> Any:
    return await books.reschedule_book(kw["book_id"], body, principal, session)


async def _create_slot(body: Any, principal: Principal, session: AsyncSession, **kw: Any) -> Any:
    return await slots.create_available_slot(body, principal, session, kw["settings"], False)


_BOOK = _Route("/books", books.BookBody, "book", _fields(books.BookBody, "book"), _create_book)
_RESCHEDULE = _Route(
    "/books/{book_id}/reschedule",
    books.RescheduleBody,
    "book",
    _fields(books.RescheduleBody, "book"),
    _reschedule,
)
_SLOT = _Route(
    "/available_slots",
    slots.SlotBody,
    "available_slot",
    _fields(slots.SlotBody, "available_slot"),
    _create_slot,
)


class _Unplain(Exception):
    """Something this lane does not read exactly as FastAPI would: the full stack reads it."""


def _plain_body(route: _Route, raw: bytes) -> dict[str, Any]:
    if b"\\u" in raw or b"\x00" in raw:
        raise _Unplain
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _Unplain from None
    if not isinstance(document, dict) or set(document) != {route.root}:
        raise _Unplain
    fields = document[route.root]
    if not isinstance(fields, dict) or not set(fields) <= route.fields:
        raise _Unplain
    if any(isinstance(value, (dict, list)) for value in fields.values()):
        raise _Unplain
    return document


class FastWrites:
    """Pure ASGI, in front of the application's routes (inside the request pipeline)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        base_path: str,
    ) -> None:
        self.app = app
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.books = f"{base_path}/books"
        self.book_prefix = f"{self.books}/"
        self.slots = f"{base_path}/available_slots"
        self.matched = {
            route.template: SimpleNamespace(path_format=f"{base_path}{route.template}")
            for route in (_BOOK, _RESCHEDULE, _SLOT)
        }
        # Requests to these routes answered here, and handed on to the full stack.
        self.answered = 0
        self.handed_on = 0

    def _route_of(self, path: str) -> tuple[_Route, dict[str, Any]] | None:
        if path == self.books:
            return _BOOK, {}
        if path == self.slots:
            return _SLOT, {}
        if path.startswith(self.book_prefix) and path.endswith(RESCHEDULE_SUFFIX):
            book_id = plain_id(path[len(self.book_prefix) : -len(RESCHEDULE_SUFFIX)])
            return (_RESCHEDULE, {"book_id": book_id}) if book_id is not None else None
        return None

    def _plain_headers(self, scope: Scope) -> Principal | None:
        """The cached admin of a request with one JSON content type and no idempotency key."""
        sent: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in sent and name in (*TOKEN_HEADERS, b"content-type"):
                return None
            if name == b"idempotency-key" or name == b"transfer-encoding":
                return None
            sent[name] = value
        if sent.get(b"content-type") != JSON_TYPE:
            return None
        return lane_admin(sent, self.sessionmaker, self.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope.get("root_path")
            or scope["query_string"]
        ):
            await self.app(scope, receive, send)
            return
        found = self._route_of(scope["path"])
        if found is None:
            await self.app(scope, receive, send)
            return
        route, arguments = found
        principal = self._plain_headers(scope)
        if principal is None:
            self.handed_on += 1
            await self.app(scope, receive, send)
            return
        # Within the pipeline's body cap, which has already refused a larger body.
        raw = await read_body(receive, 2**62) or b""
        try:
            body = route.body.model_validate(_plain_body(route, raw))
        except (_Unplain, ValidationError):
            self.handed_on += 1
            await self.app(scope, buffered_receive(raw, receive), send)
            return
        self.answered += 1
        await answer_taken(
            scope,
            receive,
            send,
            principal=principal,
            matched=self.matched[route.template],
            sessionmaker=self.sessionmaker,
            call=lambda session: route.call(
                body, principal, session, settings=self.settings, **arguments
            ),
        )
