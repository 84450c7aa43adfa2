"""The audit trail: who changed which record, which fields (never their values), when.

ORM changes are recorded by an ``after_flush`` hook on the flush's own connection, so an
entry is always written in the same transaction as the change it describes. ORM bulk
updates and deletes are recorded by a ``do_orm_execute`` hook. Bulk Core inserts fire
neither: their callers call :func:`record`. Reads of booking notes are recorded by
:func:`record_notes_read`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Column, Table, event, insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from models.platform.acting import current_principal, current_request_id
from models.platform.base import utcnow
from models.platform.db import in_write_transaction, write_transaction
from models.platform.entities import (
    ApiToken,
    AppointmentType,
    AuditEntry,
    AvailableSlot,
    Booking,
    ExternalCalendar,
    Hold,
    Patient,
    Provider,
    Resource,
    SlotSeries,
    TimeOff,
    User,
    WaitlistEntry,
)

CREATE, UPDATE, DELETE, READ_NOTES = "create", "update", "delete", "read_notes"
# A booking made by an admin past the provider's booking rules.
OVERRIDE_RULES = "override_rules"

# Tables whose changes are audited, by the name entries carry.
AUDITED: dict[type[Any], str] = {
    Provider: "provider",
    Patient: "patient",
    AvailableSlot: "available_slot",
    SlotSeries: "slot_series",
    Booking: "booking",
    User: "user",
    ApiToken: "api_token",
    Hold: "hold",
    TimeOff: "time_off",
    AppointmentType: "appointment_type",
    Resource: "resource",
    ExternalCalendar: "external_calendar",
    WaitlistEntry: "waitlist_entry",
}
# Bookkeeping columns: never reported as changed, and a change to only these is no change.
IGNORED_FIELDS = frozenset({"id", "created_at", "updated_at", "last_used_at"})

# Called with each session that is about to write audited changes (idempotency marks).
_change_listeners: list[Callable[[Session], None]] = []
# Per listener: whether it would do nothing now (None: it may always act).
_change_idle: list[Callable[[], bool] | None] = []


def on_audited_change(
    listener: Callable[[Session], None], *, idle: Callable[[], bool] | None = None
) -> None:
    """Run ``listener(session)`` in every transaction that writes an audit entry;
    ``idle()``, if given, says the listener would do nothing in the current context."""
    if listener not in _change_listeners:
        _change_listeners.append(listener)
        _change_idle.append(idle)


def change_listeners_idle() -> bool:
    """Every change listener would do nothing now: an audit entry needs no further work
    in its transaction."""
    return all(idle is not None and idle() for idle in _change_idle)


def has_recorded(session: Session) -> bool:
    """Entries recorded and not yet written (the commit hook would write them)."""
    return bool(session.info.get(_PENDING))


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int | None
    token_id: int | None
    request_id: str | None


def current_actor() -> Actor:
    principal = current_principal()
    return Actor(
        user_id=principal.user_id if principal else None,
        token_id=principal.token_id if principal else None,
        request_id=current_request_id(),
    )


def _entry_row(
    action: str, entity: str, entity_id: int | None, fields: Iterable[str], actor: Actor
) -> dict[str, Any]:
    return {
        "occurred_at": utcnow(),
        "user_id": actor.user_id,
        "token_id": actor.token_id,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "changed_fields": sorted(set(fields) - IGNORED_FIELDS),
        "request_id": actor.request_id,
    }


def record(
    session: AsyncSession | Session,
    action: str,
    entity: str,
    ids: Sequence[int | None],
    fields: Iterable[str] = (),
) -> None:
    """Audit a change made without the ORM unit of work (bulk Core inserts, say).

    Call it inside the write transaction of the change; the entries are flushed with it.
    """
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    actor = current_actor()
    names = list(fields)
    _pending(sync).extend(_entry_row(action, entity, entity_id, names, actor) for entity_id in ids)


async def record_many(
    session: AsyncSession,
    action: str,
    entity: str,
    ids: Sequence[int | None],
    fields: Iterable[str] = (),
) -> None:
    """Like :func:`record`, written at once as one multi-row INSERT without RETURNING, so a
    bulk change costs the same number of statements whatever its size."""
    if not ids:
        return
    actor = current_actor()
    names = list(fields)
    rows = [_entry_row(action, entity, entity_id, names, actor) for entity_id in ids]
    await session.execute(insert(cast(Table, AuditEntry.__table__)), rows)


def notes_read_row(booking_ids: Sequence[int], actor: Actor) -> dict[str, Any]:
    """One entry for one read, naming every booking whose notes it showed.

    A single booking is the entry's ``entity_id``; several are listed after ``notes`` in
    ``changed_fields`` as ``booking:<id>`` (``entity_id`` then empty).
    """
    row = _entry_row(READ_NOTES, "booking", None, ["notes"], actor)
    if len(booking_ids) == 1:
        row["entity_id"] = booking_ids[0]
    else:
        row["changed_fields"] = ["notes", *(f"booking:{id_}" for id_ in booking_ids)]
    return row


async def record_notes_read(session: AsyncSession, booking_ids: Iterable[int]) -> None:
    """Audit that the caller was shown the notes of these bookings: one entry.

    Inside a write transaction the entry joins it; otherwise it is committed at once
    (one attempt: a failure fails the request, which then shows nothing).
    """
    ids = sorted(set(booking_ids))
    if not ids:
        return
    if in_write_transaction(session):
        await _record_notes_read(session, ids)
        return
    async with write_transaction(session):
        await _record_notes_read(session, ids)


async def _record_notes_read(session: AsyncSession, ids: list[int]) -> None:
    # A Core INSERT without RETURNING: one statement, and no ORM unit of work.
    await session.execute(_INSERT_ENTRY, [notes_read_row(ids, current_actor())])
    await session.run_sync(_notify_change_listeners)


_INSERT_ENTRY = insert(cast(Table, AuditEntry.__table__))


def _notify_change_listeners(session: Session) -> None:
    for listener in _change_listeners:
        listener(session)


def _stored_keys(state: Any) -> list[str]:
    # Table columns only: a computed attribute (a slot's ``available``) is no field, and
    # reading it here would load it.
    return [attr.key for attr in state.mapper.column_attrs if isinstance(attr.columns[0], Column)]


def _changed_fields(obj: Any) -> list[str]:
    state = inspect(obj)
    return [key for key in _stored_keys(state) if state.attrs[key].history.has_changes()]


def _set_fields(obj: Any) -> list[str]:
    state = inspect(obj)
    return [key for key in _stored_keys(state) if getattr(obj, key) is not None]


def _flushed_changes(session: Session) -> list[tuple[str, Any, list[str]]]:
    """The audited changes of the flush that just ran (its lists still show them)."""
    found: list[tuple[str, Any, list[str]]] = []
    for obj in session.new:
        if type(obj) in AUDITED:
            found.append((CREATE, obj, _set_fields(obj)))
    for obj in session.dirty:
        if type(obj) in AUDITED:
            fields = [name for name in _changed_fields(obj) if name not in IGNORED_FIELDS]
            if fields:
                found.append((UPDATE, obj, fields))
    for obj in session.deleted:
        if type(obj) in AUDITED:
            found.append((DELETE, obj, []))
    return found


# Entries recorded (``record``, ORM bulk statements) and not yet written, per session, and
# how many of them each open savepoint started with (a savepoint rolled back drops its own).
_PENDING = "audit_pending"
_SAVEPOINT_MARKS = "audit_savepoint_marks"


def _pending(session: Session) -> list[dict[str, Any]]:
    pending: list[dict[str, Any]] = session.info.setdefault(_PENDING, [])
    return pending


def take_recorded(session: AsyncSession | Session) -> list[dict[str, Any]]:
    """The entries recorded and not yet written, for a caller that writes them itself in
    the transaction (then calls :func:`written`); the commit hook no longer sees them."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    rows: list[dict[str, Any]] = sync.info.pop(_PENDING, None) or []
    return rows


async def written(session: AsyncSession) -> None:
    """Entries taken with :func:`take_recorded` were written: tell the change listeners."""
    await session.run_sync(_notify_change_listeners)


def _write(session: Session, rows: list[dict[str, Any]]) -> None:
    """Entries inserted on the session's connection, as one statement without RETURNING."""
    session.connection().execute(insert(AuditEntry), rows)
    for listener in _change_listeners:
        listener(session)


def _audit_flush(session: Session, _flush_context: Any) -> None:
    """Entries for the rows this flush wrote (and those recorded before it), inserted on
    the flush's own connection."""
    changes = _flushed_changes(session)
    rows = session.info.pop(_PENDING, None) or []
    if changes:
        actor = current_actor()
        rows.extend(
            _entry_row(action, AUDITED[type(obj)], obj.id, fields, actor)
            for action, obj, fields in changes
        )
    if rows:
        _write(session, rows)
    elif any(isinstance(obj, AuditEntry) for obj in session.new):
        for listener in _change_listeners:
            listener(session)


def _audit_commit(session: Session) -> None:
    """What was recorded after the last flush goes in with the commit's own flush, or alone."""
    if session.info.get(_PENDING):
        session.flush()
    rows = session.info.pop(_PENDING, None)
    if rows:
        _write(session, rows)


def _savepoint_begun(session: Session, transaction: Any) -> None:
    if transaction.nested:
        marks = session.info.setdefault(_SAVEPOINT_MARKS, {})
        marks[id(transaction)] = len(session.info.get(_PENDING, ()))


def _transaction_ended(session: Session, transaction: Any) -> None:
    if transaction.nested:
        session.info.get(_SAVEPOINT_MARKS, {}).pop(id(transaction), None)
    elif transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_SAVEPOINT_MARKS, None)


def _rolled_back(session: Session, previous: Any) -> None:
    """A savepoint rolled back drops what was recorded inside it (the outermost
    transaction's end drops everything, in ``_transaction_ended``)."""
    if previous.nested:
        mark = session.info.get(_SAVEPOINT_MARKS, {}).get(id(previous))
        if mark is not None:
            del session.info.get(_PENDING, [])[mark:]


def _audit_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    entity_class = mapper.class_ if mapper is not None else None
    if entity_class not in AUDITED:
        return
    fields: list[str] = []
    if state.is_update:
        values = getattr(state.statement, "_values", None) or {}
        fields = [getattr(key, "key", str(key)) for key in values]
        if not set(fields) - IGNORED_FIELDS:
            return
    action = UPDATE if state.is_update else DELETE
    _pending(state.session).append(
        _entry_row(action, AUDITED[entity_class], None, fields, current_actor())
    )


_HOOKS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("after_flush", _audit_flush),
    ("do_orm_execute", _audit_bulk),
    ("before_commit", _audit_commit),
    ("after_transaction_create", _savepoint_begun),
    ("after_transaction_end", _transaction_ended),
    ("after_soft_rollback", _rolled_back),
)


def install_audit_hooks() -> None:
    """Register the session hooks (idempotent); every sessionmaker of the service calls it."""
    for name, hook in _HOOKS:
        if not event.contains(Session, name, hook):
            event.listen(Session, name, hook)


async def audit_log(
    session: AsyncSession,
    *,
    entity: str | None = None,
    entity_id: int | None = None,
    user_id: int | None = None,
    action: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest entries first, filtered."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(max(1, min(limit, 10_000)))
    if entity is not None:
        stmt = stmt.where(AuditEntry.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    if user_id is not None:
        stmt = stmt.where(AuditEntry.user_id == user_id)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if since is not None:
        stmt = stmt.where(AuditEntry.occurred_at >= since)
    return list((await session.execute(stmt)).scalars())
