"""Find's options and explain counts against a slow reference computed in Python over the
same data, on random clinics (hypothesis)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.booking import find
from models.platform.db import create_engine
from models.platform.entities import (
    AppointmentType,
    AvailableSlot,
    Hold,
    HoldStatus,
    Provider,
    TimeOff,
)
from models.platform.sessions import create_sessionmaker
from models.scheduling.booking_rules import period_days
from models.scheduling.provider_matching import primary_subtag

ZONES = ("UTC", "America/New_York", "Asia/Kolkata")
CLINIC = ZoneInfo("UTC")
RANGE_DAYS = 6


@dataclass
class SlotSpec:
    day: int
    hour: int
    minutes: int
    capacity: int
    booked: int
    closed: bool
    kind: str  # "own", "none" or "other"
    hold: str  # "none", "active" or "expired"


@dataclass
class ProviderSpec:
    zone: str
    rules: dict[str, int | None]
    offers: str  # "all", "own" or "other"
    states: list[str]
    languages: list[str]
    slots: list[SlotSpec]
    time_off: tuple[int, int, int] | None  # day, hour, hours


@dataclass
class Scenario:
    duration: int
    before: int | None
    after: int | None
    providers: list[ProviderSpec]
    state: str | None
    language: str | None
    limit: int
    spread: bool


def _slot(day_hour: tuple[int, int]) -> st.SearchStrategy[SlotSpec]:
    return st.builds(
        SlotSpec,
        day=st.just(day_hour[0]),
        hour=st.just(day_hour[1]),
        minutes=st.sampled_from([20, 30, 60]),
        capacity=st.sampled_from([1, 1, 2]),
        booked=st.integers(0, 2),
        closed=st.sampled_from([False, False, False, True]),
        kind=st.sampled_from(["own", "own", "none", "other"]),
        hold=st.sampled_from(["none", "none", "active", "expired"]),
    )


def maybe(values: list[int]) -> st.SearchStrategy[int | None]:
    return st.none() | st.sampled_from(values)


@st.composite
def _provider(draw: Any) -> ProviderSpec:
    places = draw(
        st.lists(
            st.tuples(st.integers(-3, RANGE_DAYS + 3), st.integers(0, 23)),
            max_size=7,
            unique=True,
        )
    )
    slots = [draw(_slot(place)) for place in places]
    for slot in slots:
        slot.booked = min(slot.booked, slot.capacity)
    rules = {
        "minimum_notice_minutes": draw(maybe([0, 600, 3000])),
        "booking_window_days": draw(maybe([2, 4])),
        "buffer_before_minutes": draw(maybe([0, 30, 90])),
        "buffer_after_minutes": draw(maybe([0, 30, 90])),
        "max_bookings_per_day": draw(maybe([1, 2])),
        "max_bookings_per_week": draw(maybe([1, 2, 3])),
        "max_bookings_per_month": draw(maybe([2, 4])),
    }
    time_off = draw(
        st.none() | st.tuples(st.integers(0, RANGE_DAYS), st.integers(0, 23), st.integers(1, 30))
    )
    return ProviderSpec(
        zone=draw(st.sampled_from(ZONES)),
        rules=rules,
        offers=draw(st.sampled_from(["all", "all", "own", "other"])),
        states=draw(st.lists(st.sampled_from(["CA", "NY", "TX"]), unique=True, max_size=2)),
        languages=draw(
            st.lists(st.sampled_from(["es-MX", "en", "fr", "ES"]), unique=True, max_size=2)
        ),
        slots=slots,
        time_off=time_off,
    )


SCENARIOS = st.builds(
    Scenario,
    duration=st.sampled_from([20, 30, 45]),
    before=st.none() | st.sampled_from([0, 60]),
    after=st.none() | st.sampled_from([0, 60]),
    providers=st.lists(_provider(), min_size=1, max_size=4),
    state=st.none() | st.sampled_from(["CA", "NY"]),
    language=st.none() | st.sampled_from(["es", "EN"]),
    limit=st.integers(1, 12),
    spread=st.booleans(),
)


@dataclass
class Seeded:
    key: str
    now: datetime
    start: date
    providers: list[Provider] = field(default_factory=list)
    slots: list[AvailableSlot] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    time_offs: list[TimeOff] = field(default_factory=list)


def _reference_cause(
    scenario: Scenario, seeded: Seeded, provider: Provider, slot: AvailableSlot
) -> str | None:
    now = seeded.now
    rules = provider
    if any(
        off.provider_id == provider.id
        and off.start_time < slot.end_time
        and off.end_time > slot.start_time
        for off in seeded.time_offs
    ):
        return "time_off"
    if slot.admin_closed:
        return "closed"
    holds = sum(
        1
        for hold in seeded.holds
        if hold.available_slot_id == slot.id
        and hold.status == HoldStatus.HELD
        and hold.expires_at > now
    )
    if slot.booked_count + holds >= slot.capacity:
        return "full"
    notice = rules.minimum_notice_minutes
    if notice is not None and slot.start_time < now + timedelta(minutes=notice):
        return "minimum_notice"
    window = rules.booking_window_days
    if window is not None and slot.start_time >= now + timedelta(days=window):
        return "booking_window"
    before = scenario.before if scenario.before is not None else rules.buffer_before_minutes
    after = scenario.after if scenario.after is not None else rules.buffer_after_minutes
    has_buffer = (
        scenario.before is not None
        or scenario.after is not None
        or rules.buffer_before_minutes is not None
        or rules.buffer_after_minutes is not None
    )
    own = [other for other in seeded.slots if other.provider_id == provider.id]
    if has_buffer and any(
        other.id != slot.id
        and other.booked_count > 0
        and other.end_time > slot.start_time - timedelta(minutes=after or 0)
        and other.start_time < slot.end_time + timedelta(minutes=before or 0)
        for other in own
    ):
        return "buffer"
    zone = ZoneInfo(provider.time_zone)
    for rule, period, cause in (
        ("max_bookings_per_day", "day", "daily_limit"),
        ("max_bookings_per_week", "week", "weekly_limit"),
        ("max_bookings_per_month", "month", "monthly_limit"),
    ):
        limit = getattr(rules, rule)
        if limit is None:
            continue
        first, last = period_days(slot.start_time.astimezone(zone).date(), period)
        booked = sum(
            other.booked_count
            for other in own
            if first <= other.start_time.astimezone(zone).date() <= last
        )
        if booked >= limit:
            return cause
    if slot.duration_minutes < scenario.duration:
        return "too_short"
    return None


def _reference(
    scenario: Scenario, seeded: Seeded
) -> tuple[list[int], list[find.UnavailableProvider]]:
    window_start = datetime.combine(seeded.start, datetime.min.time(), tzinfo=UTC)
    window_end = window_start + timedelta(days=RANGE_DAYS + 1)
    options: list[tuple[datetime, int, int]] = []
    unavailable = []
    for provider in sorted(seeded.providers, key=lambda row: row.id):
        ruled_out = None
        if provider.appointment_type_keys and seeded.key not in provider.appointment_type_keys:
            ruled_out = "type_not_offered"
        elif scenario.state and scenario.state not in provider.licensed_states:
            ruled_out = "not_licensed"
        elif scenario.language and primary_subtag(scenario.language) not in {
            primary_subtag(tag) for tag in provider.languages
        }:
            ruled_out = "language"
        if ruled_out:
            unavailable.append(find.UnavailableProvider(provider.id, ruled_out, {}))
            continue
        counts: dict[str, int] = {}
        mine = []
        for slot in seeded.slots:
            if (
                slot.provider_id != provider.id
                or slot.appointment_type not in (None, seeded.key)
                or not window_start <= slot.start_time < window_end
                or slot.start_time <= seeded.now
            ):
                continue
            cause = _reference_cause(scenario, seeded, provider, slot)
            if cause is None:
                mine.append((slot.start_time, provider.id, slot.id))
            else:
                counts[cause] = counts.get(cause, 0) + 1
        if mine:
            options.extend(mine)
            continue
        ordered = {cause: counts[cause] for cause in find.SLOT_CAUSES if cause in counts}
        unavailable.append(
            find.UnavailableProvider(provider.id, None if counts else "no_slots", ordered)
        )
    options.sort()
    if scenario.spread:
        turns: dict[int, int] = {}
        ranked = []
        for start, provider_id, slot_id in options:
            turns[provider_id] = turns.get(provider_id, 0) + 1
            ranked.append((turns[provider_id], start, provider_id, slot_id))
        chosen = sorted(ranked)[: scenario.limit]
        picked = sorted((start, provider_id, slot_id) for _, start, provider_id, slot_id in chosen)
    else:
        picked = options[: scenario.limit]
    return [slot_id for _, _, slot_id in picked], unavailable


async def _seed(session: Any, scenario: Scenario) -> Seeded:
    now = datetime.now(UTC).replace(microsecond=0)
    start = (now + timedelta(days=1)).date()
    key = "k" + uuid.uuid4().hex[:12]
    seeded = Seeded(key=key, now=now, start=start)
    session.add(
        AppointmentType(
            key=key,
            name="Random",
            duration_minutes=scenario.duration,
            buffer_before_minutes=scenario.before,
            buffer_after_minutes=scenario.after,
            modes=["video"],
        )
    )
    for spec in scenario.providers:
        offers = {"all": [], "own": [key], "other": ["therapy"]}[spec.offers]
        provider = Provider(
            first_name="R",
            last_name="Random",
            time_zone=spec.zone,
            appointment_type_keys=offers,
            licensed_states=spec.states,
            languages=spec.languages,
            **spec.rules,
        )
        session.add(provider)
        await session.flush()
        seeded.providers.append(provider)
        for item in spec.slots:
            begins = datetime.combine(start, datetime.min.time(), tzinfo=UTC) + timedelta(
                days=item.day, hours=item.hour
            )
            slot = AvailableSlot(
                provider_id=provider.id,
                start_time=begins,
                end_time=begins + timedelta(minutes=item.minutes),
                duration_minutes=item.minutes,
                capacity=item.capacity,
                booked_count=item.booked,
                admin_closed=item.closed,
                appointment_type={"own": key, "none": None, "other": "therapy"}[item.kind],
            )
            session.add(slot)
            await session.flush()
            seeded.slots.append(slot)
            if item.hold != "none":
                expires = now + (
                    timedelta(minutes=30) if item.hold == "active" else -timedelta(minutes=1)
                )
                hold = Hold(available_slot_id=slot.id, status=HoldStatus.HELD, expires_at=expires)
                session.add(hold)
                seeded.holds.append(hold)
        if spec.time_off is not None:
            day, hour, hours = spec.time_off
            begins = datetime.combine(start, datetime.min.time(), tzinfo=UTC) + timedelta(
                days=day, hours=hour
            )
            off = TimeOff(
                provider_id=provider.id, start_time=begins, end_time=begins + timedelta(hours=hours)
            )
            session.add(off)
            seeded.time_offs.append(off)
    await session.commit()
    return seeded


async def _check(database_url: str, scenario: Scenario) -> None:
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            seeded = await _seed(session, scenario)
            request = await find.check_find(
                session,
                appointment_type=seeded.key,
                start_date=seeded.start.isoformat(),
                end_date=(seeded.start + timedelta(days=RANGE_DAYS)).isoformat(),
                provider_ids=[provider.id for provider in seeded.providers],
                licensed_state=scenario.state,
                language=scenario.language,
                limit=scenario.limit,
                spread=scenario.spread,
                explain=True,
            )
            result = await find.find_availability(session, request, zone=CLINIC, now=seeded.now)
            expected_options, expected_unavailable = _reference(scenario, seeded)
            assert [row.id for row in result.options] == expected_options
            assert result.unavailable_providers == expected_unavailable
    finally:
        await engine.dispose()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=SCENARIOS)
def test_find_matches_the_reference(database_url: str, scenario: Scenario) -> None:
    asyncio.run(_check(database_url, scenario))
