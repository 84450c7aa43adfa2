"""Which slot keeps which resource: taken by a slot's first seat, given back with its last.

A slot with a ``resource_kind`` needs a resource of that kind for its whole interval.
The first hold or booking that takes one of its seats assigns it a free active resource
(:func:`take_resource`, in the claim's transaction, the slot row locked by the caller) or
is refused ``NoResourceAvailable``; the slot keeps it, for every seat, while a hold or an
active booking remains, and gives it back when none does (:func:`give_back_unused`).

No resource is kept by two overlapping slots: PostgreSQL's exclusion constraint
``ex_available_slots_resource_overlap`` refuses it whatever the application does, and
claims of one resource queue on its row lock, taken before the check, so the loser sees
the winner's assignment; SQLite serialises write transactions (the writer lock), so the
check sees every earlier one.

A slot whose holds expired keeps its resource until the hold sweep or another slot that
needs it: a claim treats a resource kept by a slot with no booking and no unexpired hold
as free, and takes it over. Slots another transaction is working on (locked) are never
taken over (``SKIP LOCKED``): that transaction may be taking a seat there.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from models.platform import audit
from models.platform.entities import AvailableSlot, Resource
from models.platform.errors import NoResourceAvailable
from models.scheduling.resources import slot_in_use


async def take_resource(session: AsyncSession, slot: AvailableSlot, now: datetime) -> int | None:
    """The resource the slot keeps for the seat just taken: its own, or a free one of its
    kind assigned now (lowest id first); None when it needs none. Raises
    ``NoResourceAvailable`` (409) when every active one of the kind is kept elsewhere.

    Call with the slot row locked, in the transaction that takes the seat.
    """
    if slot.resource_kind is None:
        return None
    if slot.resource_id is not None:
        return slot.resource_id
    candidates = (
        await session.execute(
            select(Resource.id)
            .where(Resource.kind == slot.resource_kind, Resource.active.is_(True))
            .order_by(Resource.id)
        )
    ).scalars()
    for resource_id in list(candidates):
        # Claims of one resource queue here (PostgreSQL); the checks below run after the
        # previous claimer committed, and see what it took.
        locked = (
            await session.execute(
                select(Resource.id)
                .where(Resource.id == resource_id, Resource.active.is_(True))
                .with_for_update()
            )
        ).scalar_one_or_none()
        if locked is None:
            continue
        if await _free_for(session, resource_id, slot, now):
            await session.execute(
                update(AvailableSlot.__table__)  # type: ignore[arg-type]
                .where(AvailableSlot.id == slot.id)
                .values(resource_id=resource_id)
            )
            set_committed_value(slot, "resource_id", resource_id)
            audit.record(session, audit.UPDATE, "available_slot", [slot.id], ["resource_id"])
            return resource_id
    raise NoResourceAvailable()


async def _free_for(
    session: AsyncSession, resource_id: int, slot: AvailableSlot, now: datetime
) -> bool:
    """Whether no other slot keeps the resource during the slot's interval; slots that keep
    it unused (no booking, no unexpired hold) give it up here."""
    table = AvailableSlot.__table__
    overlapping = (
        AvailableSlot.resource_id == resource_id,
        AvailableSlot.id != slot.id,
        AvailableSlot.start_time < slot.end_time,
        AvailableSlot.end_time > slot.start_time,
    )
    keepers = set((await session.execute(select(AvailableSlot.id).where(*overlapping))).scalars())
    if not keepers:
        return True
    # Locked without waiting: a keeper another transaction is working on counts as in use.
    locked = set(
        (
            await session.execute(
                select(table.c.id).where(table.c.id.in_(keepers)).with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    if locked != keepers:
        return False
    # A fresh statement after the locks: it sees the seats their last writers took.
    in_use = (
        await session.execute(
            select(table.c.id).where(table.c.id.in_(locked), slot_in_use(table.c, now))
        )
    ).first()
    if in_use is not None:
        return False
    await _clear(session, sorted(locked))
    return True


async def _clear(session: AsyncSession, slot_ids: list[int]) -> None:
    await session.execute(
        update(AvailableSlot.__table__)  # type: ignore[arg-type]
        .where(AvailableSlot.id.in_(slot_ids))
        .values(resource_id=None)
        .execution_options(synchronize_session=False)
    )
    for slot_id in slot_ids:
        loaded = session.identity_map.get(identity_key(AvailableSlot, slot_id))
        if loaded is not None:
            set_committed_value(loaded, "resource_id", None)
    audit.record(session, audit.UPDATE, "available_slot", slot_ids, ["resource_id"])


async def give_back_unused(
    session: AsyncSession, slots: Iterable[AvailableSlot], now: datetime
) -> list[int]:
    """Slots among ``slots`` (loaded in this transaction) that keep a resource and are
    left with no active booking and no unexpired hold give it back; returns their ids.
    Slots another transaction has locked are left as they are (they give it back later,
    or a claim takes it over)."""
    wanted = sorted({slot.id for slot in slots if slot.resource_id is not None})
    if not wanted:
        return []
    table = AvailableSlot.__table__
    keeping = list(
        (
            await session.execute(
                select(table.c.id)
                .where(table.c.id.in_(wanted), table.c.resource_id.is_not(None))
                .order_by(table.c.id)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    if not keeping:
        return []
    in_use = set(
        (
            await session.execute(
                select(table.c.id).where(table.c.id.in_(keeping), slot_in_use(table.c, now))
            )
        ).scalars()
    )
    unused = [slot_id for slot_id in keeping if slot_id not in in_use]
    if unused:
        await _clear(session, unused)
    return unused
