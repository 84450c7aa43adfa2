"""Expansion of recurrence rules in a provider's time zone (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.platform.errors import FieldErrors
from models.scheduling.recurrence import (
    Recurrence,
    is_nonexistent,
    normalized_rule,
    to_instant,
)

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
ZONES = [NEW_YORK, LONDON, ZoneInfo("UTC"), ZoneInfo("Australia/Sydney")]
PATTERNS = ["daily", "weekly", "biweekly", "monthly"]
# Dates that straddle both zones' DST changes (US: second Sunday of March, first Sunday
# of November; UK: last Sundays of March and October).
DST_DATES = [date(2030, 3, 8), date(2030, 3, 29), date(2030, 10, 25), date(2030, 11, 1)]


def recurrence(
    pattern: str,
    start: datetime,
    zone: ZoneInfo,
    *,
    rule: str | None = None,
    minutes: int = 60,
    end_date: date | None = None,
) -> Recurrence:
    errors = FieldErrors()
    text = normalized_rule(errors, pattern, rule, start)
    assert not errors, errors.fields
    assert text is not None
    return Recurrence(text, start, zone, timedelta(minutes=minutes), end_date)


def starts(rec: Recurrence, days: int = 400) -> list[datetime]:
    end = to_instant(rec.dtstart_local, rec.zone) + timedelta(days=days)
    return [occurrence.start for occurrence in rec.occurrences(end=end)]


@settings(max_examples=150, deadline=None)
@given(
    pattern=st.sampled_from(PATTERNS),
    zone=st.sampled_from(ZONES),
    day=st.one_of(
        st.sampled_from(DST_DATES),
        st.dates(min_value=date(2027, 1, 1), max_value=date(2035, 12, 31)),
    ),
    hour=st.integers(min_value=0, max_value=23),
    minute=st.sampled_from([0, 15, 30, 45]),
    shift_days=st.integers(min_value=-10, max_value=10),
)
def test_occurrences_keep_local_wall_clock(pattern, zone, day, hour, minute, shift_days):
    start = datetime.combine(day + timedelta(days=shift_days), datetime.min.time()).replace(
        hour=hour, minute=minute
    )
    rec = recurrence(pattern, start, zone)
    found = starts(rec, days=200)

    assert found, "a pattern always has occurrences"
    assert all(a < b for a, b in pairwise(found)), "strictly increasing"
    for instant in found:
        assert instant.tzinfo is not None and instant.utcoffset() == timedelta(0)
        local = instant.astimezone(zone)
        # The offset is one the zone really has at that instant.
        assert local.utcoffset() == zone.utcoffset(local.replace(tzinfo=None, fold=local.fold))
        assert not is_nonexistent(local.replace(tzinfo=None), zone)
        if (local.hour, local.minute) != (hour, minute):
            # Only a time in the spring-forward gap moves: forward, by the gap (one hour).
            intended = local.replace(hour=hour, minute=minute, tzinfo=None)
            assert is_nonexistent(intended, zone), (instant, local)
            assert local.replace(tzinfo=None) - intended == timedelta(hours=1)
        if pattern in ("weekly", "biweekly"):
            assert local.weekday() == start.weekday()
        if pattern == "monthly":
            assert local.day == start.day


@settings(max_examples=80, deadline=None)
@given(
    day=st.dates(min_value=date(2027, 1, 1), max_value=date(2035, 12, 31)),
    zone=st.sampled_from(ZONES),
)
def test_biweekly_is_anchored_on_the_first_start(day, zone):
    start = datetime.combine(day, datetime.min.time()).replace(hour=10)
    found = starts(recurrence("biweekly", start, zone), days=365)
    for index, instant in enumerate(found):
        assert instant.astimezone(zone).date() == day + timedelta(days=14 * index)


def test_monthly_on_the_31st_skips_short_months():
    start = datetime(2031, 1, 31, 9, 0)
    found = starts(recurrence("monthly", start, NEW_YORK), days=366)
    months = [instant.astimezone(NEW_YORK).date() for instant in found]
    assert months == [
        date(2031, 1, 31),
        date(2031, 3, 31),
        date(2031, 5, 31),
        date(2031, 7, 31),
        date(2031, 8, 31),
        date(2031, 10, 31),
        date(2031, 12, 31),
        date(2032, 1, 31),
    ]


def test_weekly_new_york_across_november_change():
    start = datetime(2030, 10, 4, 9, 0)  # a Friday in October
    found = starts(recurrence("weekly", start, NEW_YORK), days=45)
    utc_hours = {instant.date(): instant.hour for instant in found}
    assert utc_hours[date(2030, 11, 1)] == 13  # EDT, before Sunday 3 November
    assert utc_hours[date(2030, 11, 8)] == 14  # EST after it
    assert all(instant.astimezone(NEW_YORK).hour == 9 for instant in found)


def test_london_spring_and_autumn():
    start = datetime(2031, 3, 20, 9, 0)
    found = starts(recurrence("daily", start, LONDON), days=230)
    by_day = {instant.astimezone(LONDON).date(): instant for instant in found}
    assert by_day[date(2031, 3, 29)].hour == 9  # GMT
    assert by_day[date(2031, 3, 31)].hour == 8  # BST
    assert by_day[date(2031, 10, 27)].hour == 9  # GMT again


def test_gap_moves_forward_by_the_gap_and_fold_takes_the_first():
    gap = recurrence("daily", datetime(2030, 3, 8, 2, 30), NEW_YORK)
    by_day = {instant.astimezone(NEW_YORK).date(): instant for instant in starts(gap, 5)}
    assert by_day[date(2030, 3, 10)].astimezone(NEW_YORK).strftime("%H:%M") == "03:30"
    assert by_day[date(2030, 3, 11)].astimezone(NEW_YORK).strftime("%H:%M") == "02:30"

    fold = recurrence("daily", datetime(2030, 11, 1, 1, 30), NEW_YORK)
    by_day = {instant.astimezone(NEW_YORK).date(): instant for instant in starts(fold, 5)}
    first_half = by_day[date(2030, 11, 3)]
    assert first_half == datetime(2030, 11, 3, 5, 30, tzinfo=UTC)  # 01:30 EDT, not EST


def test_custom_rule_count_until_and_end_date():
    start = datetime(2030, 6, 3, 9, 0)  # Monday
    by_count = recurrence("custom", start, NEW_YORK, rule="FREQ=WEEKLY;BYDAY=MO,WE;COUNT=5")
    assert [i.astimezone(NEW_YORK).day for i in starts(by_count)] == [3, 5, 10, 12, 17]

    until = recurrence("custom", start, NEW_YORK, rule="RRULE:FREQ=DAILY;UNTIL=20300605")
    assert len(starts(until)) == 3  # a date UNTIL covers its whole day

    until_utc = recurrence("custom", start, NEW_YORK, rule="FREQ=DAILY;UNTIL=20300605T130000Z")
    assert len(starts(until_utc)) == 3  # 13:00Z is 09:00 EDT: inclusive

    ended = recurrence("weekly", start, NEW_YORK, end_date=date(2030, 6, 24))
    assert len(starts(ended)) == 4
    assert not ended.has_occurrence_from(datetime(2030, 6, 25, tzinfo=UTC))
    assert recurrence("weekly", start, NEW_YORK).has_occurrence_from(
        datetime(2040, 1, 1, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("FREQ=HOURLY", "must repeat daily or less often"),
        ("FREQ=MINUTELY;INTERVAL=30", "must repeat daily or less often"),
        ("FREQ=WEEKLY;BYHOUR=9", "is invalid"),
        ("FREQ=FORTNIGHTLY", "is invalid"),
        ("BYDAY=MO", "is invalid"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20300101", "is invalid"),
        ("FREQ=DAILY;COUNT=0", "is invalid"),
        ("FREQ=DAILY;UNTIL=yesterday", "is invalid"),
        ("FREQ=WEEKLY;BYDAY=XX", "is invalid"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "has no occurrence"),
        ("", "can't be blank"),
    ],
)
def test_bad_custom_rules(rule, message):
    errors = FieldErrors()
    assert normalized_rule(errors, "custom", rule, datetime(2030, 1, 1, 9)) is None
    assert errors.fields == {"recurrence_rule": [message]}


def test_a_rule_that_never_matches_is_found_out_quickly():
    import time

    rec = Recurrence(
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;BYSETPOS=2",
        datetime(2030, 1, 1, 9),
        NEW_YORK,
        timedelta(hours=1),
    )
    began = time.perf_counter()
    assert rec.first() is None
    assert time.perf_counter() - began < 5
