"""Users, their API tokens, and authentication of a request's token."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.db import write_transaction
from models.entities import ApiToken, Role, User
from models.errors import FieldErrors, Forbidden, NotFound, Unauthenticated
from models.timeutil import now_utc

# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


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
        self._entries: dict[str, tuple[float, Principal, datetime | None]] = {}

    def get(self, token_hash: str, ttl: float) -> tuple[Principal, datetime | None] | None:
        entry = self._entries.get(token_hash)
        if entry is None or time.monotonic() - entry[0] > ttl:
            return None
        return entry[1], entry[2]

    def put(self, token_hash: str, principal: Principal, last_used: datetime | None) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[token_hash] = (time.monotonic(), principal, last_used)

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
        row = (
            await session.execute(
                select(ApiToken.id, ApiToken.expires_at, ApiToken.last_used_at, User.id, User.role)
                .join(User, User.id == ApiToken.user_id)
                .where(
                    ApiToken.token_hash == token_hash,
                    ApiToken.revoked_at.is_(None),
                    User.active.is_(True),
                )
            )
        ).one_or_none()
        if row is None:
            raise Unauthenticated()
        token_id, expires_at, last_used, user_id, role = row
        principal = Principal(
            user_id=user_id, token_id=token_id, role=Role(role), expires_at=expires_at
        )
        token_cache.put(token_hash, principal, last_used)
    if principal.expires_at is not None and principal.expires_at <= now:
        raise Unauthenticated()
    if last_used is None or now - last_used > LAST_USED_RESOLUTION:
        await _touch(session, principal.token_id, now)
        token_cache.put(token_hash, principal, now)
    if not principal.is_admin:
        raise Forbidden()
    return principal


async def _touch(session: AsyncSession, token_id: int, now: datetime) -> None:
    async with write_transaction(session):
        await session.execute(
            update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
        )
