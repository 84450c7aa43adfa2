"""Seats that opened in the current write transaction, and what fills them before commit.

Code that frees a seat (a cancellation, a declined request, a released or expired hold,
a slot given more seats) names the slot with :func:`seats_opened`; just before the
transaction commits, ``write_transaction`` hands the slots to the listeners (the waitlist
offers them), so a freed seat is offered in the transaction that freed it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

Listener = Callable[[AsyncSession, set[int]], Awaitable[None]]

_OPENED = "clinic_seats_opened"
_listeners: list[Listener] = []
# Statements (``wanted_id``, ``availability_now``) that return a row when a listener has
# something to do for a slot; writers may run them with their own and skip the others.
_probes: list[Any] = []


def seats_opened(session: AsyncSession, slot_ids: Iterable[int]) -> None:
    """A seat may have opened on each of ``slot_ids`` in this transaction."""
    session.sync_session.info.setdefault(_OPENED, set()).update(slot_ids)


def on_seats_opened(listener: Listener, *, probe: Any = None) -> None:
    """Run ``listener`` before commit; ``probe``: its test of one slot (see ``probes``)."""
    if listener not in _listeners:
        _listeners.append(listener)
        _probes.append(probe)


def probes() -> list[Any] | None:
    """Each listener's probe (a ``driver_writes.WritePlan``), or None if one has none: a
    writer that ran them all and got no row need not name the slot."""
    if any(probe is None for probe in _probes):
        return None
    return list(_probes)


def has_opened(session: Any) -> bool:
    """Slots named in this transaction (``session``: the sync session) wait for the
    listeners."""
    return bool(session.info.get(_OPENED))


def forget(session: AsyncSession) -> None:
    session.sync_session.info.pop(_OPENED, None)


async def before_commit(session: AsyncSession) -> None:
    """Run the listeners on the slots noted in this transaction (inside it)."""
    opened: set[int] | None = session.sync_session.info.pop(_OPENED, None)
    if not opened:
        return
    for listener in list(_listeners):
        await listener(session, opened)
