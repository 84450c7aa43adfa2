"""Slots grouped by provider, a page of providers at a time."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.db import read_rows
from models.platform.pagination import Page, PageRequest
from models.scheduling.slots import (
    RULE_COLUMNS,
    SLOT_COLUMNS,
    SLOTS_TABLE,
    SLOTS_WITH_PROVIDER,
    SlotFilters,
    SlotShape,
    shape_conditions,
    slot_query,
)

DEFAULT_SLOTS_PER_PROVIDER = 100
MAX_SLOTS_PER_PROVIDER = 500


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    id: int
    first_name: str
    last_name: str
    time_zone: str
    active: bool
    minimum_notice_minutes: int | None = None
    booking_window_days: int | None = None
    buffer_before_minutes: int | None = None
    buffer_after_minutes: int | None = None
    max_bookings_per_day: int | None = None
    cancellation_cutoff_minutes: int | None = None
    reschedule_cutoff_minutes: int | None = None


@dataclass(slots=True)
class ProviderSlots:
    provider: ProviderInfo
    slots: list[Row[Any]]


@lru_cache(maxsize=256)
def _grouped_statement(shape: SlotShape) -> Select[Any]:
    """The page of providers, its total (a window count), and their first slots: one query."""
    conditions = shape_conditions(shape)
    page_ids = (
        select(SLOTS_TABLE.c.provider_id, func.count().over().label("total"))
        .where(*conditions)
        .group_by(SLOTS_TABLE.c.provider_id)
        .order_by(SLOTS_TABLE.c.provider_id)
        .limit(bindparam("page_limit"))
    )
    if shape.keyset:
        page_ids = page_ids.where(SLOTS_TABLE.c.provider_id > bindparam("after_provider_id"))
    else:
        page_ids = page_ids.offset(bindparam("page_offset"))
    providers = page_ids.cte("page_providers")
    ranked = (
        select(
            *SLOT_COLUMNS,
            func.row_number()
            .over(
                partition_by=SLOTS_TABLE.c.provider_id,
                order_by=(SLOTS_TABLE.c.start_time, SLOTS_TABLE.c.id),
            )
            .label("position"),
        )
        .select_from(SLOTS_WITH_PROVIDER)
        .where(*conditions, SLOTS_TABLE.c.provider_id.in_(select(providers.c.provider_id)))
        .subquery("ranked")
    )
    columns = [ranked.c[column.name] for column in SLOT_COLUMNS]
    return (
        select(*columns, providers.c.total)
        .select_from(providers.join(ranked, ranked.c.provider_id == providers.c.provider_id))
        .where(ranked.c.position <= bindparam("per_provider"))
        .order_by(ranked.c.provider_id, ranked.c.start_time, ranked.c.id)
    )


@lru_cache(maxsize=256)
def _count_statement(shape: SlotShape) -> Select[Any]:
    conditions = shape_conditions(shape)
    return select(func.count(func.distinct(SLOTS_TABLE.c.provider_id))).where(*conditions)


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

    One statement whatever the page size (a second counts only when the page is empty).
    """
    shape, params = slot_query(filters, zone)
    if after_provider_id is not None:
        shape = replace(shape, keyset=True)
        params["after_provider_id"] = after_provider_id
    else:
        params["page_offset"] = page.offset
    params["page_limit"] = page.page_size
    params["per_provider"] = slots_per_provider
    rows = await read_rows(session, _grouped_statement(shape), params)
    if not rows:
        total = (await read_rows(session, _count_statement(shape), params))[0][0]
        return Page(items=[], total=total, page=page.page, page_size=page.page_size)
    items: list[ProviderSlots] = []
    for row in rows:
        if not items or items[-1].provider.id != row.provider_id:
            provider = ProviderInfo(
                id=row.provider_id,
                first_name=row.provider_first_name,
                last_name=row.provider_last_name,
                time_zone=row.provider_time_zone,
                active=row.provider_active,
                **{name: getattr(row, f"provider_{name}") for name in RULE_COLUMNS},
            )
            items.append(ProviderSlots(provider, []))
        items[-1].slots.append(row)
    return Page(items=items, total=rows[0].total, page=page.page, page_size=page.page_size)
