"""Parsing and formatting of instants and calendar days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def format_timestamp(value: datetime) -> str:
    """``2023-10-27T14:00:00.000Z``: UTC, milliseconds, ``Z``."""
    # Every listed slot formats four of these: isoformat is about twice as fast as strftime.
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" -> "Z"


def parse_timestamp(value: object) -> datetime | None:
    """An aware UTC datetime from ISO 8601 text (naive means UTC); None if unparseable."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if len(text) < 10 or len(text) > 40:
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        if len(text) == 10:  # a bare date is not a date-time
            return None
    else:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


def parse_date(value: object) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    # YYYY-MM-DD only (fromisoformat also reads week dates such as 2023-W43-5).
    if not isinstance(value, str) or len(value) != 10 or value[4] + value[7] != "--":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The instant a calendar day begins in ``zone``, in UTC."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def day_end(day: date, zone: ZoneInfo) -> datetime:
    """The instant the next calendar day begins in ``zone`` (exclusive end), in UTC."""
    return day_start(day + timedelta(days=1), zone)


def zone_or_none(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def now_utc() -> datetime:
    return datetime.now(UTC)
