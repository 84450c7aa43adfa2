"""Users, their API tokens, and authentication of a request's token."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, event, select, true, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from models.platform.db import read_rows, write_transaction, writer_lock
from models.platform.entities import ApiToken, Role, User
from models.platform.errors import FieldErrors, Forbidden, NotFound, Unauthenticated
from models.platform.timeutil import now_utc

# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Last uses are written in the background, at most this long after they happened.
LAST_USE_FLUSH_SECONDS = 30.0

logger = logging.getLogger(__name__)

_tokens = cast(Table, ApiToken.__table__)
_users = cast(Table, User.__table__)
_TOKEN_LOOKUP = (
    select(_tokens.c.id, _tokens.c.expires_at, _tokens.c.last_used_at, _users.c.id, _users.c.role)
    .join(_users, _users.c.id == _tokens.c.user_id)
    .where(
        _tokens.c.token_hash == bindparam("token_hash"),
        _tokens.c.revoked_at.is_(None),
        _users.c.active == true(),
    )
)
_TOUCH = (
    update(_tokens)
    .where(_tokens.c.id == bindparam("token_id"))
    .values(last_used_at=bindparam("used_at"))
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user and the token they presented."""

    user_id: int
    token_id: int
    role: Role
    expires_at: datetime | None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class _TokenCache:
    """Per-process cache of recent token lookups, keyed by token hash."""

    def __init__(self) -> None:
        # (looked up at, principal, last used, quiet until): monotonic seconds; until
        # "quiet until" the principal is an admin whose token is neither expired nor due
        # a last-use note, so a request needs no clock of its own.
        self._entries: dict[str, tuple[float, Principal, datetime | None, float]] = {}

    def get(self, token_hash: str, ttl: float) -> tuple[Principal, datetime | None] | None:
        entry = self._entries.get(token_hash)
        if entry is None or time.monotonic() - entry[0] > ttl:
            return None
        return entry[1], entry[2]

    def quiet_admin(self, token_hash: str, ttl: float) -> Principal | None:
        """The cached admin behind the hash while nothing about it needs checking."""
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        moment = time.monotonic()
        if moment - entry[0] > ttl or moment >= entry[3]:
            return None
        return entry[1]

    def put(
        self, token_hash: str, principal: Principal, last_used: datetime | None, now: datetime
    ) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        moment = time.monotonic()
        quiet = -math.inf
        if principal.is_admin and last_used is not None:
            until = last_used + LAST_USED_RESOLUTION
            if principal.expires_at is not None:
                until = min(until, principal.expires_at)
            quiet = moment + (until - now).total_seconds()
        self._entries[token_hash] = (moment, principal, last_used, quiet)

    def clear(self) -> None:
        self._entries.clear()


token_cache = _TokenCache()


async def create_user(
    session: AsyncSession,
    *,
    role: Role | str,
    first_name: str,
    last_name: str,
    expires_in: timedelta | None = None,
) -> tuple[User, str]:
    """Create a user with one API token; returns the user and the token, shown only now."""
    errors = FieldErrors()
    try:
        role = Role(role)
    except ValueError:
        errors.add("role", "is not included in the list")
    if not first_name.strip():
        errors.add("first_name", "can't be blank")
    if not last_name.strip():
        errors.add("last_name", "can't be blank")
    errors.raise_if_any()
    async with write_transaction(session):
        user = User(role=Role(role), first_name=first_name.strip(), last_name=last_name.strip())
        session.add(user)
        await session.flush()
        token = await _add_token(session, user_id=user.id, expires_in=expires_in)
    return user, token


async def issue_token(
    session: AsyncSession,
    *,
    user_id: int,
    expires_in: timedelta | None = None,
    name: str | None = None,
    revoke_named: bool = False,
) -> str:
    """A new token for the user; with ``revoke_named``, their live tokens of that name end."""
    async with write_transaction(session):
        if await session.get(User, user_id) is None:
            raise NotFound()
        if revoke_named:
            await session.execute(
                update(ApiToken)
                .where(
                    ApiToken.user_id == user_id,
                    ApiToken.name == name,
                    ApiToken.revoked_at.is_(None),
                )
                .values(revoked_at=now_utc())
            )
            token_cache.clear()
        return await _add_token(session, user_id=user_id, expires_in=expires_in, name=name)


async def _add_token(
    session: AsyncSession,
    *,
    user_id: int,
    expires_in: timedelta | None,
    name: str | None = None,
) -> str:
    token = new_token()
    expires_at = now_utc() + expires_in if expires_in is not None else None
    session.add(
        ApiToken(user_id=user_id, token_hash=hash_token(token), expires_at=expires_at, name=name)
    )
    await session.flush()
    return token


async def revoke_token(session: AsyncSession, *, token: str) -> None:
    async with write_transaction(session):
        result = await session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
            .values(revoked_at=now_utc())
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound()
    token_cache.clear()


async def authenticate(
    session: AsyncSession, token: str | None, *, cache_seconds: float = 0.0
) -> Principal:
    """The caller behind ``token``; raises Unauthenticated or Forbidden (non-admin)."""
    if not token or len(token) > 200:
        raise Unauthenticated()
    token_hash = hash_token(token)
    now = now_utc()
    cached = token_cache.get(token_hash, cache_seconds) if cache_seconds > 0 else None
    if cached is not None:
        principal, last_used = cached
    else:
        rows = await read_rows(session, _TOKEN_LOOKUP, {"token_hash": token_hash})
        if not rows:
            raise Unauthenticated()
        token_id, expires_at, last_used, user_id, role = tuple(rows[0])
        principal = Principal(
            user_id=user_id, token_id=token_id, role=Role(role), expires_at=expires_at
        )
        token_cache.put(token_hash, principal, last_used, now)
    if principal.expires_at is not None and principal.expires_at <= now:
        raise Unauthenticated()
    _note_use(session.bind, token_hash, principal, last_used, now)
    if not principal.is_admin:
        raise Forbidden()
    return principal


def cached_admin(engine: object, token: str, *, cache_seconds: float) -> Principal | None:
    """The admin behind ``token`` if a recent lookup is cached and still good, else None
    (the caller then takes the full path, :func:`authenticate`, which answers refusals)."""
    if cache_seconds <= 0 or len(token) > 200:
        return None
    token_hash = hash_token(token)
    quiet = token_cache.quiet_admin(token_hash, cache_seconds)
    if quiet is not None:
        return quiet
    cached = token_cache.get(token_hash, cache_seconds)
    if cached is None:
        return None
    principal, last_used = cached
    now = now_utc()
    if not principal.is_admin or (principal.expires_at is not None and principal.expires_at <= now):
        return None
    _note_use(engine, token_hash, principal, last_used, now)
    return principal


def _note_use(
    engine: object,
    token_hash: str,
    principal: Principal,
    last_used: datetime | None,
    now: datetime,
) -> None:
    if last_used is None or now - last_used > LAST_USED_RESOLUTION:
        last_use.note(engine, principal.token_id, now)
        token_cache.put(token_hash, principal, now, now)


class _LastUse:
    """Token last uses, coalesced per process and written by one background task.

    A request only notes the time; the write happens within ``LAST_USE_FLUSH_SECONDS``
    (and on shutdown, :func:`flush_last_use`), one transaction per database for every
    token noted. State is per event loop: an engine's connections belong to its loop.
    """

    def __init__(self) -> None:
        self._state: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pending] = (
            weakref.WeakKeyDictionary()
        )

    def note(self, engine: object, token_id: int, used_at: datetime) -> None:
        if not isinstance(engine, AsyncEngine):
            return
        loop = asyncio.get_running_loop()
        state = self._state.get(loop)
        if state is None:
            state = self._state[loop] = _Pending()
        uses = state.uses.get(engine)
        if uses is None:
            uses = state.uses[engine] = {}
            self._forget_on_dispose(engine, state)
        uses[token_id] = used_at
        if state.task is None:
            state.task = loop.create_task(self._later(state))

    @staticmethod
    def _forget_on_dispose(engine: AsyncEngine, state: _Pending) -> None:
        """A disposed engine takes its unwritten uses with it (the app flushes first)."""

        def forget(_engine: Any) -> None:
            state.uses.pop(engine, None)

        event.listen(engine.sync_engine, "engine_disposed", forget, once=True)

    async def _later(self, state: _Pending) -> None:
        await asyncio.sleep(LAST_USE_FLUSH_SECONDS)
        state.task = None
        state.writing = asyncio.current_task()
        try:
            await self._flush(state)
        finally:
            state.writing = None

    async def _flush(self, state: _Pending) -> None:
        pending, state.uses = state.uses, {}
        for engine, uses in pending.items():
            rows = [{"token_id": tid, "used_at": used} for tid, used in uses.items()]
            try:
                lock = writer_lock(engine)
                if lock is None:
                    await _write_uses(engine, rows)
                else:
                    async with lock:
                        await _write_uses(engine, rows)
            except Exception as exc:  # a later use writes it again
                logger.warning(
                    "could not record token last use",
                    extra={"fields": {"tokens": len(rows), "exc": type(exc).__name__}},
                )

    async def flush(self) -> None:
        """Write what this event loop noted, now."""
        state = self._state.get(asyncio.get_running_loop())
        if state is None:
            return
        task, state.task = state.task, None
        if task is not None:
            task.cancel()
        # A write under way holds a transaction: it ends before the caller disposes engines.
        if state.writing is not None:
            await asyncio.wait({state.writing})
        await self._flush(state)


@dataclass(slots=True)
class _Pending:
    uses: dict[AsyncEngine, dict[int, datetime]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    writing: asyncio.Task[Any] | None = None


async def _write_uses(engine: AsyncEngine, rows: list[dict[str, object]]) -> None:
    async with engine.connect() as conn:
        conn = await conn.execution_options(clinic_sqlite_immediate=True)
        async with conn.begin():
            await conn.execute(_TOUCH, rows)


last_use = _LastUse()


async def flush_last_use() -> None:
    """Write the noted last uses now (at shutdown)."""
    await last_use.flush()
