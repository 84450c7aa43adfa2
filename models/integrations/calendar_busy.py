"""Busy time out of iCalendar texts: recurrences expanded with their exceptions by
``recurring-ical-events`` over ``icalendar``, free and cancelled events skipped, the
intervals merged and cut into pieces of at most ``MAX_BUSY_MINUTES``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from models.integrations.calendar_reads import FetchFailed
from models.platform.calendar_tables import MAX_BUSY_MINUTES

MAX_INTERVALS = 20_000


def _instant(value: Any, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=zone).astimezone(UTC)
    raise ValueError("not a date or date-time")


def _text_of(component: Any, name: str) -> str:
    value = component.get(name)
    return str(value).strip().upper() if value is not None else ""


def busy_intervals(
    texts: Iterable[bytes], start: datetime, end: datetime, zone: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """Opaque, not cancelled event occurrences overlapping ``[start, end)``, merged."""
    import icalendar
    import recurring_ical_events

    found: list[tuple[datetime, datetime]] = []
    for text in texts:
        try:
            calendar = icalendar.Calendar.from_ical(text)
            occurrences = recurring_ical_events.of(calendar, components=["VEVENT"]).between(
                start, end
            )
            for event in occurrences:
                if _text_of(event, "TRANSP") == "TRANSPARENT":
                    continue
                if _text_of(event, "STATUS") == "CANCELLED":
                    continue
                begins = _instant(event["DTSTART"].dt, zone)
                if "DTEND" in event:
                    ends = _instant(event["DTEND"].dt, zone)
                elif "DURATION" in event:
                    ends = begins + event["DURATION"].dt
                elif isinstance(event["DTSTART"].dt, datetime):
                    continue  # an instant: takes no time (RFC 5545)
                else:
                    ends = _instant(event["DTSTART"].dt + timedelta(days=1), zone)
                if ends > begins and begins < end and ends > start:
                    found.append((begins, ends))
                if len(found) > MAX_INTERVALS:
                    raise FetchFailed(f"more than {MAX_INTERVALS} busy times in the horizon")
        except FetchFailed:
            raise
        except Exception as exc:  # icalendar and recurrence errors alike
            raise FetchFailed(f"not a readable iCalendar file ({type(exc).__name__})") from None
    return merge(found)


def merge(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching intervals joined, then cut into pieces of at most
    ``MAX_BUSY_MINUTES`` (what the availability expression relies on)."""
    merged: list[list[datetime]] = []
    for begins, ends in sorted(intervals):
        if merged and begins <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], ends)
        else:
            merged.append([begins, ends])
    longest = timedelta(minutes=MAX_BUSY_MINUTES)
    pieces: list[tuple[datetime, datetime]] = []
    for begins, ends in merged:
        while ends - begins > longest:
            pieces.append((begins, begins + longest))
            begins += longest
        pieces.append((begins, ends))
    return pieces
