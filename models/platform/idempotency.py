"""Idempotency keys: a retried write replays its first reply instead of writing again.

A key is reserved (a row, unique per user and key) before the request runs. The
request's change marks the row in its own transaction (through the audit hook), so a
row whose request committed a change is never run again; a row whose request died
before changing anything may be taken over by a retry. The reply is stored after.
"""

from __future__ import annotations

import hashlib
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from models.platform.audit import on_audited_change
from models.platform.db import is_constraint_violation, write_transaction
from models.platform.entities import IdempotencyRecord
from models.platform.timeutil import now_utc

KEY_TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255
UNIQUE_CONSTRAINT = "uq_idempotency_keys_user_key"
# A reservation older than this with no change and no reply belongs to a request that
# died: longer than any request can run (pool wait + statements), so never a live one.
STALE_AFTER = timedelta(minutes=2)
# Identifies this server process as the owner of the reservations it works on.
PROCESS_OWNER = uuid.uuid4().hex

# What a reply says of a key, in either face's error shape.
MISMATCH_MESSAGE = "has already been used with a different request"
INVALID_KEY_MESSAGE = "is invalid"
IN_PROGRESS_MESSAGE = "A request with this Idempotency-Key is still in progress"
REPLY_LOST_MESSAGE = (
    "The request with this Idempotency-Key was processed; its reply is not available"
)
# Keys are per face: the same key sent to REST and to GraphQL names two requests.
REST_FACE = "rest"
GRAPHQL_FACE = "graphql"

# The reservation the current request runs under (set by the HTTP layer).
active_reservation: ContextVar[int | None] = ContextVar("idempotency_reservation", default=None)
# Reservations this process is working on right now: any other row it owns is dead.
_live: set[int] = set()
_MARKED = "idempotency_marked"


def request_fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


def stored_key(face: str, key: str) -> str:
    """The key as stored: REST's as sent (printable ASCII, so existing rows keep their
    meaning); another face's under a prefix no sent key can hold (a control character),
    hashed to fit the column."""
    if face == REST_FACE:
        return key
    return f"\x1f{face}:{hashlib.sha256(key.encode()).hexdigest()}"


@dataclass(frozen=True, slots=True)
class Reserved:
    """The request may run; its reply must be stored with :func:`complete`."""

    id: int


@dataclass(frozen=True, slots=True)
class Replay:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The key was used for another request (method, path or body differ)."""


@dataclass(frozen=True, slots=True)
class InProgress:
    """The first request with this key is still running."""


@dataclass(frozen=True, slots=True)
class ReplyLost:
    """The first request committed its change but died before its reply was stored."""


Outcome = Reserved | Replay | Mismatch | InProgress | ReplyLost


async def _existing(session: AsyncSession, user_id: int, key: str) -> IdempotencyRecord | None:
    return (
        await session.execute(
            select(IdempotencyRecord)
            .where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


def _owner_gone(row: IdempotencyRecord, now: datetime) -> bool:
    """The request that reserved the row is no longer running (it has no reply)."""
    if row.owner == PROCESS_OWNER and row.id not in _live:
        return True
    return now - row.created_at > STALE_AFTER


async def reserve(
    session: AsyncSession,
    *,
    user_id: int,
    key: str,
    method: str,
    path: str,
    request_hash: str,
    face: str = REST_FACE,
    now: datetime | None = None,
) -> Outcome:
    """Reserve ``key`` for this request, or say what to answer instead of running it."""
    now = now or now_utc()
    key = stored_key(face, key)
    for _attempt in range(3):
        try:
            async with write_transaction(session):
                row = await _existing(session, user_id, key)
                if row is None:
                    row = IdempotencyRecord(
                        user_id=user_id,
                        key=key,
                        method=method,
                        path=path[:500],
                        request_hash=request_hash,
                        created_at=now,
                        expires_at=now + KEY_TTL,
                        owner=PROCESS_OWNER,
                    )
                    session.add(row)
                    await session.flush()
                    _live.add(row.id)
                    return Reserved(row.id)
                if row.expires_at <= now:
                    # An expired key is forgotten: this request starts afresh.
                    await session.delete(row)
                    await session.flush()
                    continue
                if row.request_hash != request_hash:
                    return Mismatch()
                if row.status_code is not None:
                    return Replay(
                        status=row.status_code,
                        body=row.response_body or b"",
                        headers=dict(row.response_headers or {}),
                    )
                if not _owner_gone(row, now):
                    return InProgress()
                if row.changed_at is not None:
                    return ReplyLost()
                # The first attempt died before changing anything: this one takes over.
                row.owner = PROCESS_OWNER
                row.created_at = now
                await session.flush()
                _live.add(row.id)
                return Reserved(row.id)
        except IntegrityError as exc:
            # A concurrent request with the same key reserved it first: look again.
            if not is_constraint_violation(exc, UNIQUE_CONSTRAINT, "idempotency_keys.user_id"):
                raise
    return InProgress()


async def complete(
    session: AsyncSession,
    reservation_id: int,
    *,
    status: int,
    body: bytes,
    headers: dict[str, str],
) -> None:
    """Store the reply that retries will replay."""
    try:
        async with write_transaction(session):
            await session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.id == reservation_id)
                .values(
                    status_code=status, response_body=body, response_headers=headers, owner=None
                )
            )
    finally:
        _live.discard(reservation_id)


async def release(session: AsyncSession, reservation_id: int) -> bool:
    """Forget a reservation whose request changed nothing, so a retry runs it again.

    Returns False (and keeps the row) if the request did commit a change.
    """
    try:
        async with write_transaction(session):
            result: Any = await session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.id == reservation_id,
                    IdempotencyRecord.changed_at.is_(None),
                )
            )
            return bool(result.rowcount)
    finally:
        _live.discard(reservation_id)


async def was_changed(session: AsyncSession, reservation_id: int) -> bool:
    row = (
        await session.execute(
            select(IdempotencyRecord.changed_at).where(IdempotencyRecord.id == reservation_id)
        )
    ).one_or_none()
    return row is not None and row[0] is not None


async def purge_expired(session: AsyncSession, *, now: datetime | None = None) -> int:
    async with write_transaction(session):
        result: Any = await session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= (now or now_utc()))
        )
        return int(result.rowcount or 0)


def _mark_changed(session: Session) -> None:
    """In the transaction of the request's change: this key must never run again."""
    reservation_id = active_reservation.get()
    if reservation_id is None or session.info.get(_MARKED) == reservation_id:
        return
    session.info[_MARKED] = reservation_id
    session.connection().execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == reservation_id, IdempotencyRecord.changed_at.is_(None))
        .values(changed_at=now_utc())
    )


def _no_reservation() -> bool:
    return active_reservation.get() is None


def _forget_mark(session: Session) -> None:
    session.info.pop(_MARKED, None)


def install_idempotency_hooks() -> None:
    """Mark reservations from the audit hook (idempotent)."""
    on_audited_change(_mark_changed, idle=_no_reservation)
    for name in ("after_commit", "after_rollback"):
        if not event.contains(Session, name, _forget_mark):
            event.listen(Session, name, _forget_mark)
