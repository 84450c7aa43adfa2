"""Bookings rendered by the database in a caller's own shape: one statement, one JSON text.

The booking record kind and its page, read as ``get_booking`` and ``list_bookings`` read
them (same filters, same (slot start, id) order and cursors). ``notes`` is health
information: shown only when picked, and every read of it is audited as the rows path
audits it, one entry naming the bookings shown.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam
from sqlalchemy.ext.asyncio import AsyncSession

from models.booking.bookings import (
    BOOKING_BY_ID,
    BookingFilters,
    BookingKey,
    booking_page_rows,
    booking_query,
    count_statement,
)
from models.platform import audit
from models.platform.db import read_rows
from models.platform.record_render import (
    ENUM,
    INSTANT,
    INTEGER,
    NODE_ID,
    STRING,
    Listing,
    Picks,
    Record,
    dialect_of,
    one_json,
    one_statement,
    page_params,
    page_record,
    page_statement,
    time_id_cursor,
)

BOOKING = Record(
    {
        "id": (INTEGER, "id"),
        "node_id": (NODE_ID, "id"),
        "available_slot_id": (INTEGER, "available_slot_id"),
        "patient_id": (INTEGER, "patient_id"),
        "appointment_type": (STRING, "appointment_type"),
        "status": (ENUM, "status"),
        "cancellation_reason": (STRING, "cancellation_reason"),
        "cancelled_at": (INSTANT, "cancelled_at"),
        "rescheduled_from_slot_id": (INTEGER, "rescheduled_from_slot_id"),
        "reschedule_count": (INTEGER, "reschedule_count"),
        "resource_id": (INTEGER, "resource_id"),
        "pending_expires_at": (INSTANT, "pending_expires_at"),
        "created_at": (INSTANT, "created_at"),
        "updated_at": (INSTANT, "updated_at"),
        "notes": (STRING, "notes"),
    },
    node_type="Booking",
)
PAGE = page_record(BOOKING)


@lru_cache(maxsize=256)
def _one_statement(picks: Picks, dialect: str) -> Select[Any]:
    return one_statement(picks, BOOKING, BOOKING_BY_ID.subquery("booking"), dialect)


@lru_cache(maxsize=512)
def _page_statement(picks: Picks, shape: Any, dialect: str) -> Select[Any]:
    rows = booking_page_rows(shape).limit(bindparam("page_limit")).subquery("limited")
    listing = Listing(
        rows,
        ("slot_start_time", "id"),
        count_statement(shape),
        lambda columns: time_id_cursor(columns.slot_start_time, columns.id, dialect),
        keyset=shape.keyset,
        backward=shape.backward,
    )
    return page_statement(picks, BOOKING, listing, dialect, shown_ids="id" if shape.notes else "")


async def booking_json(session: AsyncSession, picks: Picks, booking_id: int) -> str:
    """One booking (``get_booking``) as JSON in the shape of ``picks``; NotFound without
    it. The caller audits a read of its notes, as it does for the row."""
    return await one_json(
        session, _one_statement(picks, dialect_of(session)), {"booking_id": booking_id}
    )


async def booking_page_json(
    session: AsyncSession,
    picks: Picks,
    filters: BookingFilters,
    *,
    first: int,
    zone: ZoneInfo,
    include_notes: bool = False,
    after: BookingKey | None = None,
    backward: bool = False,
) -> str:
    """``list_bookings``'s page of ``first`` bookings in the shape of ``picks``. With
    ``include_notes`` (the caller was shown notes, or asked for them) the read is
    audited as one entry naming every booking shown."""
    shape, params = booking_query(
        filters, zone, include_notes=include_notes, after=after, backward=backward
    )
    statement = _page_statement(picks, shape, dialect_of(session))
    [row] = await read_rows(session, statement, page_params(params, first))
    if include_notes:
        await audit.record_notes_read(session, json.loads(row.ids))
    return str(row.body)
