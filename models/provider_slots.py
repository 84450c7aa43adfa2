"""Slots grouped by provider, a page of providers at a time."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from models.entities import AvailableSlot, Provider
from models.pagination import Page, PageRequest
from models.slots import SlotFilters, filter_conditions

DEFAULT_SLOTS_PER_PROVIDER = 100
MAX_SLOTS_PER_PROVIDER = 500


@dataclass(slots=True)
class ProviderSlots:
    provider: Provider
    slots: list[AvailableSlot]


async def list_provider_slots(
    session: AsyncSession,
    filters: SlotFilters,
    *,
    page: PageRequest,
    zone: ZoneInfo,
    slots_per_provider: int = DEFAULT_SLOTS_PER_PROVIDER,
    after_provider_id: int | None = None,
) -> Page[ProviderSlots]:
    """Providers (by id) with at least one matching slot, each with its first slots.

    Four statements whatever the page size: the count, the page of provider ids, the
    providers, and their slots (at most ``slots_per_provider`` each, in time order).
    """
    conditions = filter_conditions(filters, zone)
    total = (
        await session.execute(
            select(func.count(func.distinct(AvailableSlot.provider_id))).where(*conditions)
        )
    ).scalar_one()
    ids_stmt = (
        select(AvailableSlot.provider_id)
        .where(*conditions)
        .group_by(AvailableSlot.provider_id)
        .order_by(AvailableSlot.provider_id)
        .limit(page.page_size)
    )
    if after_provider_id is not None:
        ids_stmt = ids_stmt.where(AvailableSlot.provider_id > after_provider_id)
    else:
        ids_stmt = ids_stmt.offset(page.offset)
    provider_ids = list((await session.execute(ids_stmt)).scalars())
    if not provider_ids:
        return Page(items=[], total=total, page=page.page, page_size=page.page_size)
    providers = {
        provider.id: provider
        for provider in (
            await session.execute(select(Provider).where(Provider.id.in_(provider_ids)))
        ).scalars()
    }
    ranked = (
        select(
            AvailableSlot.id.label("slot_id"),
            func.row_number()
            .over(
                partition_by=AvailableSlot.provider_id,
                order_by=(AvailableSlot.start_time, AvailableSlot.id),
            )
            .label("position"),
        )
        .where(*conditions, AvailableSlot.provider_id.in_(provider_ids))
        .subquery()
    )
    slots_stmt = (
        select(AvailableSlot)
        .join(ranked, ranked.c.slot_id == AvailableSlot.id)
        .where(ranked.c.position <= slots_per_provider)
        .options(joinedload(AvailableSlot.provider))
        .order_by(AvailableSlot.provider_id, AvailableSlot.start_time, AvailableSlot.id)
    )
    grouped: dict[int, list[AvailableSlot]] = {provider_id: [] for provider_id in provider_ids}
    for slot in (await session.execute(slots_stmt)).scalars():
        grouped[slot.provider_id].append(slot)
    items = [ProviderSlots(providers[pid], grouped[pid]) for pid in provider_ids]
    return Page(items=items, total=total, page=page.page, page_size=page.page_size)
