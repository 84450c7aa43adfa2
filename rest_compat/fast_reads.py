"""The REST face's most frequent reads, answered without the framework's per-request work.

``GET /available_slots``, ``/available_slots/search``, ``/available_slots/{id}`` and
``/find`` with a recently authenticated admin token and plainly written query parameters
call the very route functions FastAPI would call, with the values FastAPI would pass them.
Anything else (no token or one not in the token cache, a parameter that is unknown,
repeated or not plainly written) goes on to the full stack, which answers it, refusals
included.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from common.request_context import set_principal
from common.settings import Settings
from common.strict_numbers import plain_id
from common.tokens import token_of
from models.platform.errors import DomainError
from models.platform.pagination import MAX_PAGE_SIZE
from models.platform.sessions import RequestSession
from models.platform.users import Principal, cached_admin
from rest_compat import find, slots
from rest_compat.errors import domain_error_response
from rest_compat.schemas import MAX_ID

TOKEN_HEADERS = (b"x-user-token", b"authorization")
_DIGITS = re.compile(r"[0-9]{1,10}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WORD = re.compile(r"[a-z_]{1,40}")
_STATE = re.compile(r"[A-Za-z]{2}")
_TAG = re.compile(r"[A-Za-z0-9-]{1,35}")
_BOOLEANS = {"true": True, "false": False}


async def answer_taken(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    principal: Principal,
    matched: SimpleNamespace,
    sessionmaker: async_sessionmaker[AsyncSession],
    call: Callable[..., Awaitable[Response]],
    reads: bool = False,
) -> None:
    """Answer a request a lane has taken: the principal and route the audit trail and the
    access log read, one request session, the domain's refusals in the contract's shape.
    ``call`` takes the session as ``session=``. ``reads``: ``call`` only reads, and nothing
    keeps its session (which may serve again)."""
    set_principal(principal)
    scope.setdefault("state", {})["principal"] = principal
    scope["route"] = matched
    async with RequestSession(sessionmaker, reuse=reads) as session:
        try:
            response = await call(session=session)
        except DomainError as exc:
            response = domain_error_response(exc)
    await response(scope, receive, send)


def lane_admin(
    sent: dict[bytes, bytes], sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> Principal | None:
    """The admin whose token (in ``sent``, the token headers by name, each given once) the
    process has recently seen; None sends the request on to the full stack."""
    user_token, authorization = sent.get(TOKEN_HEADERS[0]), sent.get(TOKEN_HEADERS[1])
    try:
        text = (
            user_token.decode("ascii")
            if user_token  # token_of's first choice
            else token_of(None, authorization.decode("ascii") if authorization else None)
        )
    except UnicodeDecodeError:
        return None
    if not text:
        return None
    return cached_admin(
        sessionmaker.kw.get("bind"), text, cache_seconds=settings.token_cache_seconds
    )


class _Unplain(Exception):
    """A parameter this lane does not read exactly as FastAPI would: the full stack reads it."""


def _int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not _DIGITS.fullmatch(text):
            raise _Unplain
        value = int(text)
        if not low <= value <= high:
            raise _Unplain
        return value

    return parse


def _matching(pattern: re.Pattern[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not pattern.fullmatch(text):
            raise _Unplain
        return text

    return parse


def _bool(text: str) -> bool:
    try:
        return _BOOLEANS[text]
    except KeyError:
        raise _Unplain from None


_PAGE = _int(1, 1_000_000)
_PAGE_SIZE = _int(1, MAX_PAGE_SIZE)
_ID = _int(1, MAX_ID)
_DATE = _matching(_DAY)

Handler = Callable[..., Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class _Route:
    template: str
    handler: Handler
    params: dict[str, Callable[[str], Any]]
    wants_request: bool = True
    wants_settings: bool = True


_LIST = _Route(
    "/available_slots",
    slots.list_available_slots,
    {
        "page": _PAGE,
        "page_size": _PAGE_SIZE,
        "provider_id": _ID,
        "start_date": _DATE,
        "end_date": _DATE,
        "available": _bool,
        "appointment_type": _matching(_WORD),
    },
)
_SEARCH = _Route(
    "/available_slots/search",
    slots.search_available_slots,
    {
        "provider_id": _ID,
        "date": _DATE,
        "duration": _int(1, 44640),
        "appointment_type": _matching(_WORD),
        "page": _PAGE,
        "page_size": _PAGE_SIZE,
    },
)
_FIND = _Route(
    "/find",
    find.find_availability,
    {
        "appointment_type": _matching(_WORD),
        "start_date": _DATE,
        "end_date": _DATE,
        # One id, as FastAPI reads a list given once (a repeated one goes to the full stack).
        "provider_ids": lambda text: [_ID(text)],
        "licensed_state": _matching(_STATE),
        "language": _matching(_TAG),
        "mode": _matching(_WORD),
        "limit": _int(1, find.ops.MAX_LIMIT),
        "spread": _bool,
        "explain": _bool,
    },
    wants_request=False,
)
_GET = _Route(
    "/available_slots/{slot_id}",
    slots.get_available_slot,
    {},
    wants_request=False,
    wants_settings=False,
)


def _pairs(query: str) -> list[tuple[str, str]]:
    """``parse_qsl(query, keep_blank_values=True, strict_parsing=True)``: split by hand
    where nothing in it is escaped (no ``%``, no ``+``), as parse_qsl then splits it."""
    if "%" in query or "+" in query:
        return parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    pairs: list[tuple[str, str]] = []
    if not query:
        return pairs
    for part in query.split("&"):
        name, equals, text = part.partition("=")
        if not equals:
            raise ValueError(part)  # as parse_qsl's strict parsing refuses it
        pairs.append((name, text))
    return pairs


class FastSlotReads:
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
        self.collection = f"{base_path}/available_slots"
        self.item_prefix = f"{self.collection}/"
        self.search = f"{self.collection}/search"
        self.find = f"{base_path}/find"
        # What the access log and the metrics name the route by, as for the full stack.
        self.matched = {
            route.template: SimpleNamespace(path_format=f"{base_path}{route.template}")
            for route in (_LIST, _SEARCH, _GET, _FIND)
        }
        # Requests to these routes answered here, and handed on to the full stack.
        self.answered = 0
        self.handed_on = 0

    def _route_of(self, path: str) -> tuple[_Route, dict[str, Any]] | None:
        if path == self.collection:
            return _LIST, {}
        if path == self.search:
            return _SEARCH, {}
        if path == self.find:
            return _FIND, {}
        if path.startswith(self.item_prefix):
            rest = path[len(self.item_prefix) :]
            slot_id = plain_id(rest)
            return (_GET, {"slot_id": slot_id}) if slot_id is not None else None
        return None

    def _arguments(self, route: _Route, query: bytes) -> dict[str, Any]:
        arguments: dict[str, Any] = {}
        if not query:
            return arguments
        try:
            pairs = _pairs(query.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise _Unplain from None
        for name, text in pairs:
            parse = route.params.get(name)
            if parse is None or name in arguments:
                raise _Unplain
            arguments[name] = parse(text)
        return arguments

    def _admin(self, scope: Scope) -> Principal | None:
        sent: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in TOKEN_HEADERS:
                if name in sent:
                    return None
                sent[name] = value
        return lane_admin(sent, self.sessionmaker, self.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        found = self._route_of(scope["path"])
        if found is None:
            await self.app(scope, receive, send)
            return
        route, arguments = found
        try:
            arguments.update(self._arguments(route, scope["query_string"]))
        except _Unplain:
            self.handed_on += 1
            await self.app(scope, receive, send)
            return
        principal = self._admin(scope)
        if principal is None:
            self.handed_on += 1
            await self.app(scope, receive, send)
            return
        self.answered += 1
        if route.wants_request:
            arguments["request"] = Request(scope, receive)
        if route.wants_settings:
            arguments["settings"] = self.settings
        await answer_taken(
            scope,
            receive,
            send,
            principal=principal,
            matched=self.matched[route.template],
            sessionmaker=self.sessionmaker,
            call=partial(route.handler, _admin=principal, **arguments),
            reads=True,
        )
