"""A recurring series rendered by the database in a caller's own shape: one statement, one
JSON text, its next occurrences included (as ``get_series`` and the upcoming slots'
read give them)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.entities import SlotSeries
from models.platform.json_text import wall_clock_text
from models.platform.record_render import (
    BOOLEAN,
    DAY,
    ENUM,
    INSTANT,
    INTEGER,
    NODE_ID,
    STRING,
    Picks,
    Record,
    Rows,
    dialect_of,
    one_json,
    one_statement,
)
from models.platform.timeutil import now_utc
from models.scheduling.slot_render import RENDERED_SLOT_COLUMNS, SLOT
from models.scheduling.slots import SLOTS_TABLE, SLOTS_WITH_PROVIDER

SERIES_TABLE = SlotSeries.__table__
SERIES = Record(
    {
        "id": (INTEGER, "id"),
        "node_id": (NODE_ID, "id"),
        "provider_id": (INTEGER, "provider_id"),
        "recurrence_pattern": (ENUM, "recurrence_pattern"),
        "recurrence_rule": (STRING, "recurrence_rule"),
        "time_zone": (STRING, "time_zone"),
        "start_local": (STRING, "start_local"),
        "duration_minutes": (INTEGER, "duration_minutes"),
        "appointment_type": (STRING, "appointment_type"),
        "recurrence_end_date": (DAY, "recurrence_end_date"),
        "generated_until": (INSTANT, "generated_until"),
        "exhausted": (BOOLEAN, "exhausted"),
        "occurrences_created": (INTEGER, "occurrences_created"),
        "skipped_conflicts": (INTEGER, "skipped_conflicts"),
    },
    {"upcoming_slots": (SLOT, True)},
    node_type="SlotSeries",
)


@lru_cache(maxsize=256)
def _one_statement(picks: Picks, dialect: str) -> Select[Any]:
    s = SERIES_TABLE.c
    row = (
        select(SERIES_TABLE, wall_clock_text(s.dtstart_local, dialect).label("start_local"))
        .where(s.id == bindparam("series_id"))
        .subquery("row")
    )
    c = SLOTS_TABLE.c
    upcoming = (
        select(*RENDERED_SLOT_COLUMNS)
        .select_from(SLOTS_WITH_PROVIDER)
        .where(
            c.series_id == bindparam("series_id"),
            c.start_time > bindparam("now", type_=c.start_time.type),
        )
        .order_by(c.start_time, c.id)
        .limit(bindparam("upcoming"))
        .subquery("upcoming")
    )
    rows = Rows(upcoming, ("start_time", "id"), None, None)
    record = Record(
        SERIES.values, SERIES.objects, SERIES.node_type, {"upcoming_slots": lambda _c: rows}
    )
    return one_statement(picks, record, row, dialect)


async def series_json(
    session: AsyncSession,
    picks: Picks,
    series_id: int,
    *,
    upcoming: int,
    now: datetime | None = None,
) -> str:
    """A series with its next ``upcoming`` occurrences as JSON in the shape of ``picks``;
    NotFound without it."""
    params = {"series_id": series_id, "upcoming": upcoming, "now": now or now_utc()}
    return await one_json(session, _one_statement(picks, dialect_of(session)), params)
