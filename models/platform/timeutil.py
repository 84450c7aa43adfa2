"""Parsing and formatting of instants and calendar days.

Every day and instant a request carries is read here, and only those of the years
``FIRST_YEAR``..``LAST_YEAR`` are accepted: far enough from the calendar's ends that
no arithmetic on them later (buffers, time zones, recurrence, the day after) overflows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FIRST_YEAR = 1900
LAST_YEAR = 2199
EARLIEST = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
LATEST = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)  # exclusive


def in_range(value: date) -> bool:
    """A day, or an instant (aware), that requests may carry: years 1900..2199."""
    if isinstance(value, datetime):
        return value.tzinfo is not None and EARLIEST <= value < LATEST
    return FIRST_YEAR <= value.year <= LAST_YEAR


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
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        return None
    return parsed if in_range(parsed) else None


# A calendar day the calendar has but no record can: outside FIRST_YEAR..LAST_YEAR.
DAY_OUT_OF_RANGE = f"must be a day of the years {FIRST_YEAR} to {LAST_YEAR}"


def calendar_day(value: object) -> date | None:
    """A ``YYYY-MM-DD`` day (or a date), whatever its year; None for anything else."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    # YYYY-MM-DD only (fromisoformat also reads week dates such as 2023-W43-5).
    if not isinstance(value, str) or len(value) != 10 or value[4] + value[7] != "--":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def parse_date(value: object) -> date | None:
    day = calendar_day(value)
    return day if day is not None and in_range(day) else None


@lru_cache(maxsize=4096)
def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The instant a calendar day begins in ``zone``, in UTC."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def day_end(day: date, zone: ZoneInfo) -> datetime:
    """The instant the next calendar day begins in ``zone`` (exclusive end), in UTC."""
    return day_start(day + timedelta(days=1), zone)


# IANA names are short (the longest is 32 characters); a longer one is no zone.
ZONE_NAME_MAX = 64


def zone_or_none(name: str) -> ZoneInfo | None:
    if not isinstance(name, str) or not name or len(name) > ZONE_NAME_MAX:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name no file can have
        return None


def now_utc() -> datetime:
    return datetime.now(UTC)
