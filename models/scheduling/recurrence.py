"""Recurrence rules and their expansion into occurrences, in the provider's time zone.

Rules are RFC 5545 RRULEs expanded on naive local wall-clock times, then placed in the
zone: a time that does not exist (spring forward) moves forward by the gap, an ambiguous
one (fall back) takes its first instant. Nothing here touches the database.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import NamedTuple
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from models.platform.errors import FieldErrors
from models.platform.timeutil import in_range

PATTERN_RULES: dict[str, str] = {
    "daily": "FREQ=DAILY",
    "weekly": "FREQ=WEEKLY",
    "biweekly": "FREQ=WEEKLY;INTERVAL=2",
}
ALLOWED_FREQS = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
SUB_DAILY_FREQS = frozenset({"HOURLY", "MINUTELY", "SECONDLY"})
ALLOWED_PARTS = frozenset(
    {
        "FREQ",
        "INTERVAL",
        "COUNT",
        "UNTIL",
        "BYDAY",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYMONTH",
        "BYSETPOS",
        "WKST",
    }
)
MAX_INTERVAL = 1000
# The Gregorian calendar repeats exactly every 400 years (weekdays and leap years alike),
# so a rule shifted by a multiple of 400 years has the same occurrences, shifted.
CALENDAR_CYCLE_YEARS = 400
_UNTIL = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")
MONTH_DAYS = {month: calendar.monthrange(2000, month)[1] for month in range(1, 13)}


class Occurrence(NamedTuple):
    start: datetime
    end: datetime


def to_instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive wall-clock time in ``zone``.

    ``fold=0`` gives both contract rules at once (PEP 495): in a gap the offset before
    the transition applies, which moves the time forward by the gap; in a fold the first
    of the two instants is taken.
    """
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def is_nonexistent(local: datetime, zone: ZoneInfo) -> bool:
    """True if ``local`` falls in a gap of ``zone`` (it does not survive a UTC round trip)."""
    back = to_instant(local, zone).astimezone(zone).replace(tzinfo=None)
    return back != local


def to_local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _parts(text: str) -> dict[str, str] | None:
    body = text.strip().upper()
    if body.startswith("RRULE:"):
        body = body[len("RRULE:") :]
    parts: dict[str, str] = {}
    for pair in body.split(";"):
        name, sep, value = pair.partition("=")
        if not sep or not name or not value or name in parts:
            return None
        parts[name.strip()] = value.strip()
    return parts


def _until_local(value: str, zone: ZoneInfo) -> datetime | None:
    """UNTIL as a naive local time: a date means its whole day, ``Z`` means UTC."""
    match = _UNTIL.match(value)
    if match is None:
        return None
    day_text, time_text, utc = match.groups()
    try:
        day = datetime.strptime(day_text, "%Y%m%d").date()
        if not in_range(day):
            return None
        if time_text is None:
            return datetime.combine(day, time.max)
        moment = datetime.combine(day, datetime.strptime(time_text, "%H%M%S").time())
    except ValueError:
        return None
    return to_local(moment.replace(tzinfo=UTC), zone) if utc else moment


def _impossible_month_days(parts: dict[str, str]) -> bool:
    """BYMONTH with BYMONTHDAY values none of those months has (30 February, say)."""
    if "BYMONTH" not in parts or "BYMONTHDAY" not in parts:
        return False
    try:
        months = [int(m) for m in parts["BYMONTH"].split(",")]
        days = [int(d) for d in parts["BYMONTHDAY"].split(",")]
    except ValueError:
        return False
    longest = max(MONTH_DAYS.get(m, 31) for m in months)
    return all(abs(day) > longest for day in days)


def normalized_rule(
    errors: FieldErrors, pattern: str, custom_rule: str | None, dtstart_local: datetime
) -> str | None:
    """The RRULE text a pattern (or a custom rule) stands for; adds to ``errors`` if bad."""
    if pattern == "monthly":
        return f"FREQ=MONTHLY;BYMONTHDAY={dtstart_local.day}"
    if pattern in PATTERN_RULES:
        if custom_rule is not None and custom_rule.strip():
            errors.add("recurrence_rule", "must be blank unless recurrence_pattern is custom")
            return None
        return PATTERN_RULES[pattern]
    if custom_rule is None or not custom_rule.strip():
        errors.add("recurrence_rule", "can't be blank")
        return None
    parts = _parts(custom_rule)
    if parts is None or "FREQ" not in parts:
        errors.add("recurrence_rule", "is invalid")
        return None
    if parts["FREQ"] in SUB_DAILY_FREQS:
        errors.add("recurrence_rule", "must repeat daily or less often")
        return None
    unknown = set(parts) - ALLOWED_PARTS
    if parts["FREQ"] not in ALLOWED_FREQS or unknown:
        errors.add("recurrence_rule", "is invalid")
        return None
    if "COUNT" in parts and "UNTIL" in parts:
        errors.add("recurrence_rule", "is invalid")
        return None
    for name, low, high in (("COUNT", 1, 100_000), ("INTERVAL", 1, MAX_INTERVAL)):
        if name in parts:
            if not parts[name].isdigit() or not low <= int(parts[name]) <= high:
                errors.add("recurrence_rule", "is invalid")
                return None
    if "UNTIL" in parts and _until_local(parts["UNTIL"], ZoneInfo("UTC")) is None:
        errors.add("recurrence_rule", "is invalid")
        return None
    if _impossible_month_days(parts):
        errors.add("recurrence_rule", "has no occurrence")
        return None
    text = ";".join(f"{name}={value}" for name, value in parts.items())
    try:
        _build(text, dtstart_local, ZoneInfo("UTC"))
    except (ValueError, TypeError, KeyError, IndexError):
        errors.add("recurrence_rule", "is invalid")
        return None
    return text


def _build(text: str, dtstart_local: datetime, zone: ZoneInfo) -> tuple[rrule, datetime | None]:
    """The dateutil rule without UNTIL, and UNTIL as naive local time (None if absent)."""
    parts = _parts(text)
    if parts is None:
        raise ValueError("malformed rule")
    until = None
    if "UNTIL" in parts:
        until = _until_local(parts.pop("UNTIL"), zone)
        if until is None:
            raise ValueError("malformed UNTIL")
    body = ";".join(f"{name}={value}" for name, value in parts.items())
    rule = rrulestr(body, dtstart=dtstart_local)
    if not isinstance(rule, rrule):
        raise ValueError("not a single rule")
    return rule, until


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A rule anchored at a local wall-clock start, each occurrence lasting ``duration``."""

    rule: str
    dtstart_local: datetime
    zone: ZoneInfo
    duration: timedelta
    end_date: date | None = None

    def _local_times(self, search_until: datetime) -> Iterator[datetime]:
        """Local occurrence times in order, covering at least up to ``search_until``.

        A rule that matches nothing would make dateutil scan on to year 9999; shifting
        the anchor by whole 400-year cycles toward that year bounds the scan to a few
        centuries past ``search_until`` without changing the occurrences.
        """
        shift = max(0, (datetime.max.year - 1 - search_until.year) // CALENDAR_CYCLE_YEARS)
        years = shift * CALENDAR_CYCLE_YEARS
        rule, until = _build(self.rule, self.dtstart_local, self.zone)
        stop = until
        if self.end_date is not None:
            end_of_day = datetime.combine(self.end_date, time.max)
            stop = end_of_day if stop is None else min(stop, end_of_day)
        shifted = rule.replace(dtstart=_shift(self.dtstart_local, years))
        for local in shifted:
            local = _shift(local, -years)
            if stop is not None and local > stop:
                return
            yield local

    def occurrences(
        self, *, end: datetime, start: datetime | None = None, limit: int | None = None
    ) -> Iterator[Occurrence]:
        """Occurrences starting in ``[start, end)`` (UTC instants), at most ``limit``."""
        search_until = to_local(end, self.zone) + timedelta(days=1)
        produced = 0
        for local in self._local_times(search_until):
            begins = to_instant(local, self.zone)
            if begins >= end:
                return
            if start is not None and begins < start:
                continue
            if limit is not None and produced >= limit:
                return
            produced += 1
            yield Occurrence(begins, begins + self.duration)

    def first(self) -> Occurrence | None:
        for local in self._local_times(self.dtstart_local):
            begins = to_instant(local, self.zone)
            return Occurrence(begins, begins + self.duration)
        return None

    def has_occurrence_from(self, instant: datetime) -> bool:
        """True if some occurrence starts at or after ``instant``."""
        local_from = to_local(instant, self.zone) - timedelta(days=1)
        for local in self._local_times(local_from):
            if to_instant(local, self.zone) >= instant:
                return True
        return False


def _shift(value: datetime, years: int) -> datetime:
    return value.replace(year=value.year + years) if years else value


def check_no_self_overlap(errors: FieldErrors, occurrences: list[Occurrence]) -> None:
    """Occurrences of one series must not overlap one another."""
    for previous, current in pairwise(occurrences):
        if current.start < previous.end:
            errors.add("end_time", "must be before the next occurrence starts")
            return
