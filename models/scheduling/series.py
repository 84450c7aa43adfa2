"""Recurring series: atomic creation with preview, and the rolling horizon.

A series row keeps the rule, its local wall-clock anchor and the instant up to which
occurrences exist (``generated_until``). Every occurrence is a plain slot row carrying
``series_id``. Scoped update and delete live in ``models.scheduling.series_changes``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.db import write_transaction
from models.platform.entities import SlotSeries
from models.platform.errors import FieldErrors, NotFound, SlotConflict, TimeOffConflict
from models.platform.timeutil import format_timestamp, now_utc, zone_or_none
from models.scheduling.availability import time_off_intervals
from models.scheduling.bulk import (
    IntervalIndex,
    StoredInterval,
    insert_rows,
    insert_rows_guarded,
    is_slot_constraint,
    slot_row,
    stored_intervals,
)
from models.scheduling.recurrence import (
    Occurrence,
    Recurrence,
    check_no_self_overlap,
    normalized_rule,
    to_local,
)
from models.scheduling.slots import (
    SlotInput,
    SlotView,
    ValidSlot,
    create_single_slot,
    get_slot,
    validate_new_slot,
)

logger = logging.getLogger("clinic_availability.recurrence")

MAX_CONFLICTS_REPORTED = 100


@dataclass(frozen=True, slots=True)
class RecurrenceLimits:
    """How far ahead occurrences exist, and how many one request may create."""

    horizon_days: int = 90
    max_occurrences: int = 500


@dataclass(slots=True)
class SeriesPlan:
    """A validated series and the occurrences it creates now, before any write."""

    valid: ValidSlot
    rule: str
    recurrence: Recurrence
    occurrences: list[Occurrence]
    generated_until: datetime
    exhausted: bool


@dataclass(slots=True)
class Clash:
    """A new slot that would overlap stored ones."""

    occurrence: Occurrence
    conflicts: list[StoredInterval]


@dataclass(slots=True)
class CreationPreview:
    """What a create would do: the slots that fit, and those that clash.

    A series is atomic, so with any clash the real request creates nothing (409).
    """

    valid: ValidSlot
    fits: list[Occurrence] = field(default_factory=list)
    clashes: list[Clash] = field(default_factory=list)
    rule: str | None = None

    @property
    def conflicts(self) -> list[dict[str, Any]]:
        return conflicts_of(self.clashes)


@dataclass(slots=True)
class SeriesCreated:
    series: SlotSeries
    slot_ids: list[int]
    first: SlotView


@dataclass(slots=True)
class ExtensionReport:
    series_checked: int = 0
    series_extended: int = 0
    created: int = 0
    skipped_conflicts: int = 0


def series_zone(name: str) -> ZoneInfo:
    return zone_or_none(name) or ZoneInfo("UTC")


def recurrence_of(series: SlotSeries) -> Recurrence:
    return Recurrence(
        rule=series.recurrence_rule,
        dtstart_local=series.dtstart_local,
        zone=series_zone(series.time_zone),
        duration=timedelta(minutes=series.duration_minutes),
        end_date=series.recurrence_end_date,
    )


def plan_series(valid: ValidSlot, *, limits: RecurrenceLimits, now: datetime) -> SeriesPlan:
    """Expand a new series up to the horizon; 422 on a bad rule or too many occurrences."""
    assert valid.provider is not None and valid.recurrence_pattern is not None
    errors = FieldErrors()
    zone = series_zone(valid.provider.time_zone)
    dtstart_local = to_local(valid.start_time, zone)
    rule = normalized_rule(errors, valid.recurrence_pattern, valid.recurrence_rule, dtstart_local)
    end_date = valid.recurrence_end_date
    if end_date is not None and end_date < dtstart_local.date():
        errors.add("recurrence_end_date", "must be on or after the start date")
    errors.raise_if_any()
    assert rule is not None
    recurrence = Recurrence(
        rule=rule,
        dtstart_local=dtstart_local,
        zone=zone,
        duration=valid.end_time - valid.start_time,
        end_date=end_date,
    )
    first = recurrence.first()
    if first is None:
        field_name = "recurrence_rule" if valid.recurrence_pattern == "custom" else "start_time"
        errors.add(field_name, "has no occurrence")
        errors.raise_if_any()
    assert first is not None
    if first.start <= now:
        errors.add("start_time", "must be in the future")
    # The first occurrence always exists, even when it lies beyond the horizon.
    until = max(now + timedelta(days=limits.horizon_days), first.start + timedelta(seconds=1))
    occurrences = list(recurrence.occurrences(end=until, limit=limits.max_occurrences + 1))
    if len(occurrences) > limits.max_occurrences:
        errors.add(
            "recurrence_end_date",
            f"must be less than or equal to {limits.max_occurrences} occurrences ahead",
        )
    check_no_self_overlap(errors, occurrences)
    errors.raise_if_any()
    return SeriesPlan(
        valid=valid,
        rule=rule,
        recurrence=recurrence,
        occurrences=occurrences,
        generated_until=until,
        exhausted=not recurrence.has_occurrence_from(until),
    )


def find_clashes(
    occurrences: list[Occurrence], stored: IntervalIndex[StoredInterval]
) -> list[Clash]:
    clashes = []
    for occurrence in occurrences:
        found = stored.overlapping(occurrence.start, occurrence.end)
        if found:
            clashes.append(Clash(occurrence, found))
    return clashes


def conflicts_of(clashes: list[Clash]) -> list[dict[str, Any]]:
    """The stored slots that clash, each once, in time order (the 409's ``conflicts``)."""
    seen: dict[int, StoredInterval] = {}
    for clash in clashes:
        for stored in clash.conflicts:
            seen.setdefault(stored.id, stored)
    ordered = sorted(seen.values(), key=lambda item: (item.start_time, item.id))
    return [item.summary() for item in ordered[:MAX_CONFLICTS_REPORTED]]


async def _stored_over(session: AsyncSession, plan: SeriesPlan) -> IntervalIndex[StoredInterval]:
    return await stored_intervals(
        session,
        plan.valid.provider_id,
        plan.occurrences[0].start,
        max(occurrence.end for occurrence in plan.occurrences),
    )


async def preview_creation(
    session: AsyncSession,
    data: SlotInput,
    *,
    limits: RecurrenceLimits | None = None,
    now: datetime | None = None,
) -> CreationPreview:
    """The dry run of ``create_slot``: same checks (422 as usual), nothing written."""
    now = now or now_utc()
    valid = await validate_new_slot(session, data, now=now)
    if valid.recurring:
        plan = plan_series(valid, limits=limits or RecurrenceLimits(), now=now)
        occurrences, rule = plan.occurrences, plan.rule
    else:
        occurrences, rule = [Occurrence(valid.start_time, valid.end_time)], None
    stored = await stored_intervals(
        session,
        valid.provider_id,
        occurrences[0].start,
        max(occurrence.end for occurrence in occurrences),
    )
    # Occurrences inside time off are skipped on creation, neither fitting nor clashing.
    outside = await outside_time_off(session, valid.provider_id, occurrences)
    await session.rollback()
    clashes = find_clashes(occurrences, stored)
    clashing = {clash.occurrence for clash in clashes}
    fits = [occurrence for occurrence in outside if occurrence not in clashing]
    return CreationPreview(valid=valid, fits=fits, clashes=clashes, rule=rule)


def _occurrence_rows(
    series: SlotSeries,
    occurrences: list[Occurrence],
    *,
    available: bool = True,
    capacity: int | None = None,
) -> list[dict[str, Any]]:
    stamp = now_utc()
    return [
        slot_row(
            provider_id=series.provider_id,
            start=occurrence.start,
            end=occurrence.end,
            appointment_type=series.appointment_type,
            available=available,
            capacity=capacity or series.capacity,
            recurrence_pattern=series.recurrence_pattern,
            recurrence_rule=series.recurrence_rule,
            series_id=series.id,
            now=stamp,
            resource_kind=series.resource_kind,
        )
        for occurrence in occurrences
    ]


async def outside_time_off(
    session: AsyncSession, provider_id: int, occurrences: list[Occurrence]
) -> list[Occurrence]:
    if not occurrences:
        return []
    away = await time_off_intervals(
        session,
        provider_id,
        min(occurrence.start for occurrence in occurrences),
        max(occurrence.end for occurrence in occurrences),
    )
    return [item for item in occurrences if not away.covers(item.start, item.end)]


async def create_series(
    session: AsyncSession, valid: ValidSlot, *, limits: RecurrenceLimits, now: datetime
) -> SeriesCreated:
    """All occurrences up to the horizon, or none: 409 listing the clashes."""
    plan = plan_series(valid, limits=limits, now=now)
    try:
        async with write_transaction(session):
            clashes = find_clashes(plan.occurrences, await _stored_over(session, plan))
            if clashes:
                raise SlotConflict(conflicts=conflicts_of(clashes))
            # Occurrences inside time off are skipped, not clashes; they are filled in
            # once the time off is deleted.
            occurrences = await outside_time_off(session, valid.provider_id, plan.occurrences)
            if not occurrences:
                raise TimeOffConflict()
            series = SlotSeries(
                provider_id=valid.provider_id,
                recurrence_pattern=valid.recurrence_pattern,
                recurrence_rule=plan.rule,
                dtstart_local=plan.recurrence.dtstart_local,
                duration_minutes=int(plan.recurrence.duration.total_seconds() // 60),
                time_zone=plan.recurrence.zone.key,
                appointment_type=valid.appointment_type,
                recurrence_end_date=valid.recurrence_end_date,
                generated_until=plan.generated_until,
                exhausted=plan.exhausted,
                occurrences_created=len(occurrences),
                capacity=valid.capacity,
                resource_kind=valid.resource_kind,
            )
            session.add(series)
            await session.flush()
            rows = _occurrence_rows(
                series, occurrences, available=valid.available, capacity=valid.capacity
            )
            slot_ids = await insert_rows(session, rows)
            # Read back before the commit, so the reply never depends on a later read.
            first = await get_slot(session, slot_ids[0])
    except IntegrityError as exc:
        if not is_slot_constraint(exc):
            raise
        # A concurrent writer took one of the times between the check and the insert.
        await session.rollback()
        clashes = find_clashes(plan.occurrences, await _stored_over(session, plan))
        await session.rollback()
        raise SlotConflict(conflicts=conflicts_of(clashes)) from None
    return SeriesCreated(series=series, slot_ids=slot_ids, first=first)


async def create_series_from_input(
    session: AsyncSession,
    data: SlotInput,
    *,
    now: datetime | None = None,
    limits: RecurrenceLimits | None = None,
) -> SlotView:
    """Validate and create a recurring slot's series; its first occurrence."""
    now = now or now_utc()
    valid = await validate_new_slot(session, data, now=now)
    created = await create_series(session, valid, limits=limits or RecurrenceLimits(), now=now)
    return created.first


async def get_series(session: AsyncSession, series_id: int) -> SlotSeries:
    series = await session.get(SlotSeries, series_id, populate_existing=True)
    if series is None:
        raise NotFound()
    return series


async def _lock_open_series(session: AsyncSession, series_id: int) -> SlotSeries | None:
    """The series row, locked; None if it is exhausted or another process holds it.

    On PostgreSQL ``SKIP LOCKED`` lets a concurrent extension pass over a series being
    extended elsewhere; on SQLite the write transaction already excludes other writers.
    """
    stmt = (
        select(SlotSeries)
        .where(SlotSeries.id == series_id, SlotSeries.exhausted.is_(False))
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def extend_series(
    session: AsyncSession, series_id: int, *, horizon: datetime
) -> tuple[int, int] | None:
    """Create the series' occurrences up to ``horizon``; (created, skipped) or None if idle.

    Idempotent: it starts from ``generated_until`` under the series row lock, and an
    occurrence already stored for the series is recognised, never duplicated. One that
    clashes with another slot is skipped, logged and counted on the series.
    """
    async with write_transaction(session):
        series = await _lock_open_series(session, series_id)
        if series is None or series.generated_until >= horizon:
            return None
        recurrence = recurrence_of(series)
        candidates = list(recurrence.occurrences(start=series.generated_until, end=horizon))
        fresh: list[Occurrence] = []
        skipped: list[Occurrence] = []
        if candidates:
            stored = await stored_intervals(
                session,
                series.provider_id,
                candidates[0].start,
                max(occurrence.end for occurrence in candidates),
            )
            for occurrence in candidates:
                found = stored.overlapping(occurrence.start, occurrence.end)
                if any(
                    item.series_id == series.id and item.start_time == occurrence.start
                    for item in found
                ):
                    continue
                (skipped if found else fresh).append(occurrence)
            fresh = await outside_time_off(session, series.provider_id, fresh)
        ids = await insert_rows_guarded(session, _occurrence_rows(series, fresh))
        refused = [occurrence for occurrence, ident in zip(fresh, ids, strict=True) if not ident]
        skipped.extend(refused)
        for occurrence in skipped:
            logger.warning(
                "series %s: occurrence at %s skipped, it clashes with another slot",
                series.id,
                format_timestamp(occurrence.start),
            )
        created = len(fresh) - len(refused)
        series.generated_until = horizon
        series.occurrences_created += created
        series.skipped_conflicts += len(skipped)
        series.exhausted = not recurrence.has_occurrence_from(horizon)
        await session.flush()
    return created, len(skipped)


async def extend_open_series(
    session: AsyncSession, *, limits: RecurrenceLimits, now: datetime | None = None
) -> ExtensionReport:
    """Bring every open series up to the rolling horizon, each in its own transaction."""
    horizon = (now or now_utc()) + timedelta(days=limits.horizon_days)
    ids = list(
        (
            await session.execute(
                select(SlotSeries.id)
                .where(SlotSeries.exhausted.is_(False), SlotSeries.generated_until < horizon)
                .order_by(SlotSeries.id)
            )
        ).scalars()
    )
    await session.rollback()
    report = ExtensionReport(series_checked=len(ids))
    for series_id in ids:
        outcome = await extend_series(session, series_id, horizon=horizon.astimezone(UTC))
        if outcome is None:
            continue
        report.series_extended += 1
        report.created += outcome[0]
        report.skipped_conflicts += outcome[1]
    return report


async def create_slot(
    session: AsyncSession,
    data: SlotInput,
    *,
    now: datetime | None = None,
    limits: RecurrenceLimits | None = None,
) -> SlotView:
    """Create a slot as the REST and GraphQL faces ask for it.

    A recurring slot starts a series; the reply is its first occurrence.
    """
    if data.value("recurring") is True:
        return await create_series_from_input(session, data, now=now, limits=limits)
    return await create_single_slot(session, data, now=now)


async def fill_series_gap(
    session: AsyncSession, provider_id: int, start: datetime, end: datetime, *, now: datetime
) -> int:
    """Create the provider's series occurrences in ``[start, end)`` that a time off skipped.

    Only future occurrences already inside a series' generated range, clear of every slot
    and of the time off still in force; the rest wait for the next extension. Runs in the
    caller's write transaction; the number created.
    """
    stmt = (
        select(SlotSeries)
        .where(SlotSeries.provider_id == provider_id, SlotSeries.generated_until > start)
        .order_by(SlotSeries.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    created = 0
    for series in (await session.execute(stmt)).scalars():
        recurrence = recurrence_of(series)
        length = timedelta(minutes=series.duration_minutes)
        until = min(end, series.generated_until)
        begin = max(start - length, now)
        if begin >= until:
            continue
        candidates = list(recurrence.occurrences(start=begin, end=until))
        candidates = [item for item in candidates if item.start > now and item.end > start]
        if not candidates:
            continue
        stored = await stored_intervals(
            session,
            provider_id,
            min(item.start for item in candidates),
            max(item.end for item in candidates),
        )
        fresh = [item for item in candidates if not stored.overlapping(item.start, item.end)]
        fresh = await outside_time_off(session, provider_id, fresh)
        ids = await insert_rows_guarded(session, _occurrence_rows(series, fresh))
        made = sum(1 for ident in ids if ident)
        series.occurrences_created += made
        created += made
    await session.flush()
    return created
