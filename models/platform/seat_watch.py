"""Seats that opened in the current write transaction, and what fills them before commit.

Code that frees a seat (a cancellation, a declined request, a released or expired hold,
a slot given more seats) names the slot with :func:`seats_opened`; just before the
transaction commits, ``write_transaction`` hands the slots to the listeners (the waitlist
offers them), so a freed seat is offered in the transaction that freed it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from sqlalchemy.ext.asyncio import AsyncSession

Listener = Callable[[AsyncSession, set[int]], Awaitable[None]]

_OPENED = "clinic_seats_opened"
_listeners: list[Listener] = []


def seats_opened(session: AsyncSession, slot_ids: Iterable[int]) -> None:
    """A seat may have opened on each of ``slot_ids`` in this transaction."""
    session.sync_session.info.setdefault(_OPENED, set()).update(slot_ids)


def on_seats_opened(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def forget(session: AsyncSession) -> None:
    session.sync_session.info.pop(_OPENED, None)


async def before_commit(session: AsyncSession) -> None:
    """Run the listeners on the slots noted in this transaction (inside it)."""
    opened: set[int] | None = session.sync_session.info.pop(_OPENED, None)
    if not opened:
        return
    for listener in list(_listeners):
        await listener(session, opened)
