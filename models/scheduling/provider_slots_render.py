"""Slots grouped by provider rendered by the database in a caller's own shape: one
statement, one JSON text.

As ``list_provider_slots`` reads them: a page of the providers (by id, both ways) having
a matching slot, each with its first ``per_provider`` matching slots in time order, the
total counting every such provider.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.db import read_rows
from models.platform.pagination import keyset_order, keyset_past
from models.platform.record_render import (
    Listing,
    Picks,
    Record,
    Rows,
    dialect_of,
    id_cursor,
    page_params,
    page_record,
    page_statement,
)
from models.scheduling.provider_matching import MATCHING_FIELDS
from models.scheduling.slot_render import PROVIDER, RENDERED_SLOT_COLUMNS, SLOT
from models.scheduling.slots import (
    PROVIDERS_TABLE,
    RULE_COLUMNS,
    SLOTS_TABLE,
    SLOTS_WITH_PROVIDER,
    SlotFilters,
    SlotShape,
    shape_conditions,
    slot_query,
)

GROUP = Record({}, {"provider": (PROVIDER, False), "available_slots": (SLOT, True)})
PAGE = page_record(GROUP)
# The provider's columns as a slot row names them (``slot_render.PROVIDER``).
_PROVIDER_COLUMNS = (
    "first_name",
    "last_name",
    "time_zone",
    "active",
    *RULE_COLUMNS,
    *MATCHING_FIELDS,
)


@lru_cache(maxsize=256)
def _page_statement(picks: Picks, shape: SlotShape, dialect: str) -> Select[Any]:
    conditions = shape_conditions(shape)
    c = SLOTS_TABLE.c
    key = (c.provider_id,)
    past = (keyset_past(key, (bindparam("after_provider_id"),), backward=shape.backward),)
    ids = (
        select(c.provider_id)
        .where(*conditions, *(past if shape.keyset else ()))
        .group_by(c.provider_id)
        .order_by(*keyset_order(key, backward=shape.backward))
        .limit(bindparam("page_limit"))
        .cte("page_providers")
    )
    p = PROVIDERS_TABLE.c
    rows = (
        select(
            ids.c.provider_id, *(p[name].label(f"provider_{name}") for name in _PROVIDER_COLUMNS)
        )
        .select_from(ids.join(PROVIDERS_TABLE, p.id == ids.c.provider_id))
        .subquery("limited")
    )
    position = func.row_number().over(partition_by=c.provider_id, order_by=(c.start_time, c.id))
    ranked = (
        select(*RENDERED_SLOT_COLUMNS, position.label("position"))
        .select_from(SLOTS_WITH_PROVIDER)
        .where(*conditions, c.provider_id.in_(select(ids.c.provider_id)))
        .cte("ranked")
    )

    def slots_of(columns: Any) -> Rows:
        first = ranked.c.position <= bindparam("per_provider")
        tied = and_(ranked.c.provider_id == columns.provider_id, first)
        return Rows(ranked, ("start_time", "id"), tied, columns.provider_id.table)

    listing = Listing(
        rows,
        ("provider_id",),
        select(func.count(func.distinct(c.provider_id))).where(*conditions),
        lambda columns: id_cursor(columns.provider_id, dialect),
        keyset=shape.keyset,
        backward=shape.backward,
    )
    group = replace(GROUP, lists={"available_slots": slots_of})
    return page_statement(picks, group, listing, dialect)


async def provider_slots_page_json(
    session: AsyncSession,
    picks: Picks,
    filters: SlotFilters,
    *,
    first: int,
    zone: ZoneInfo,
    slots_per_provider: int,
    after_provider_id: int | None = None,
    backward: bool = False,
) -> str:
    """``list_provider_slots``'s page of ``first`` providers in the shape of ``picks``."""
    shape, params = slot_query(filters, zone, backward=backward)
    if after_provider_id is not None:
        shape = replace(shape, keyset=True)
        params["after_provider_id"] = after_provider_id
    params["per_provider"] = slots_per_provider
    statement = _page_statement(picks, shape, dialect_of(session))
    [row] = await read_rows(session, statement, page_params(params, first))
    return str(row.body)
