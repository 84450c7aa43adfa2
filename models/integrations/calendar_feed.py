"""A provider's slots as an iCalendar (RFC 5545) feed, and the keys calendar apps hold."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.db import write_transaction
from models.platform.entities import AvailableSlot, Provider
from models.platform.errors import FieldErrors, NotFound
from models.platform.event_tables import CalendarFeedKey
from models.platform.timeutil import day_end, day_start, now_utc
from models.scheduling.slot_states import SlotState, slot_state
from models.scheduling.slots import check_filters

FEED_PATH = "/v1/admin/clinic/availability/providers/{provider_id}/calendar.ics"
DEFAULT_DAYS = 90
# UIDs stay the same across requests, hosts and renames: calendar apps update in place.
UID_DOMAIN = "clinic-availability"
PRODID = "-//Clinic Availability//Provider availability feed//EN"


@dataclass(frozen=True, slots=True)
class FeedSlot:
    id: int
    start_time: datetime
    end_time: datetime
    updated_at: datetime
    state: SlotState


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def feed_url(base: str, provider_id: int, key: str) -> str:
    """The absolute URL a calendar app keeps: ``base`` is where clients reach the service."""
    return base.rstrip("/") + FEED_PATH.format(provider_id=provider_id) + f"?key={key}"


async def _provider(session: AsyncSession, provider_id: int) -> Provider:
    provider = await session.get(Provider, provider_id)
    if provider is None:
        raise NotFound()
    return provider


async def issue_key(session: AsyncSession, provider_id: int) -> str:
    key = secrets.token_urlsafe(32)
    async with write_transaction(session):
        await _provider(session, provider_id)
        session.add(CalendarFeedKey(provider_id=provider_id, key_hash=_hash(key)))
    return key


async def revoke_keys(session: AsyncSession, provider_id: int) -> int:
    async with write_transaction(session):
        await _provider(session, provider_id)
        result = await session.execute(
            update(CalendarFeedKey)
            .where(CalendarFeedKey.provider_id == provider_id, CalendarFeedKey.revoked_at.is_(None))
            .values(revoked_at=now_utc())
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def key_opens_feed(session: AsyncSession, provider_id: int, key: str) -> bool:
    if not key or len(key) > 200:
        return False
    found = await session.execute(
        select(CalendarFeedKey.id).where(
            CalendarFeedKey.provider_id == provider_id,
            CalendarFeedKey.key_hash == _hash(key),
            CalendarFeedKey.revoked_at.is_(None),
        )
    )
    return found.first() is not None


def feed_window(
    errors: FieldErrors,
    *,
    start_date: str | None,
    end_date: str | None,
    zone: ZoneInfo,
    max_range_days: int,
) -> tuple[datetime, datetime]:
    start, end = check_filters(
        errors, start_date=start_date, end_date=end_date, max_range_days=max_range_days
    )
    today = now_utc().astimezone(zone).date()
    first: date = start or today
    last: date = end or first + timedelta(days=DEFAULT_DAYS)
    return day_start(first, zone), day_end(last, zone)


async def feed_slots(
    session: AsyncSession, provider_id: int, start: datetime, end: datetime
) -> list[FeedSlot]:
    await _provider(session, provider_id)
    rows = await session.execute(
        select(
            AvailableSlot.id,
            AvailableSlot.start_time,
            AvailableSlot.end_time,
            AvailableSlot.updated_at,
            AvailableSlot.available,
            AvailableSlot.booked_count,
            AvailableSlot.capacity,
        )
        .where(
            AvailableSlot.provider_id == provider_id,
            AvailableSlot.start_time >= start,
            AvailableSlot.start_time < end,
        )
        .order_by(AvailableSlot.start_time, AvailableSlot.id)
    )
    return [
        FeedSlot(
            ident,
            begins,
            ends,
            changed,
            slot_state(available=available, booked=booked, capacity=capacity),
        )
        for ident, begins, ends, changed, available, booked, capacity in rows.tuples()
    ]


def _stamp(value: datetime) -> str:
    return value.astimezone(ZoneInfo("UTC")).strftime("%Y%m%dT%H%M%SZ")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 3.1)."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts: list[str] = []
    current = b""
    for char in line:
        encoded = char.encode()
        if len(current) + len(encoded) > (75 if not parts else 74):
            parts.append(current.decode())
            current = b""
        current += encoded
    parts.append(current.decode())
    return "\r\n ".join(parts)


def render_calendar(provider_id: int, slots: Iterable[FeedSlot], *, generated_at: datetime) -> str:
    """The feed as published at ``generated_at``: a ``METHOD:PUBLISH`` object's DTSTAMP is
    when it was made (RFC 5546 2.1.5); LAST-MODIFIED carries the slot's own last change."""
    stamp = _stamp(generated_at)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(f'Availability of provider {provider_id}')}",
    ]
    for slot in slots:
        lines += [
            "BEGIN:VEVENT",
            f"UID:slot-{slot.id}@{UID_DOMAIN}",
            f"DTSTAMP:{stamp}",
            f"LAST-MODIFIED:{_stamp(slot.updated_at)}",
            f"DTSTART:{_stamp(slot.start_time)}",
            f"DTEND:{_stamp(slot.end_time)}",
            f"SUMMARY:{_escape(slot.state.label)}",
            f"TRANSP:{'OPAQUE' if slot.state.busy else 'TRANSPARENT'}",
            "STATUS:CONFIRMED",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)
