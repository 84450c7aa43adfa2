"""External calendars: a provider's busy time kept elsewhere closes their slots here.

Each provider may have any number of them: an iCalendar URL (``ical``: a published or
"secret address" feed, ``webcal://`` included) or a CalDAV calendar collection
(``caldav``: URL, user, password or app token). The address and the password are stored
encrypted (:mod:`models.integrations.calendar_secrets`) and never returned: a reply shows
the CalDAV URL, or only the origin of an iCalendar URL, whose path often is its key.

A sync (:mod:`models.integrations.calendar_sync`) stores only busy intervals
(``external_busy``); the slots they overlap are closed by
``models.scheduling.availability``, as a cause of its own: deleting the calendar, or the
event moving or disappearing there, lifts it; booked slots inside are left as they are
and listed in ``booked_slot_ids``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.integrations.calendar_secrets import CalendarSecret, SecretBox
from models.platform import events
from models.platform.calendar_tables import ExternalBusy, ExternalCalendar
from models.platform.db import write_transaction
from models.platform.entities import AvailableSlot, Provider
from models.platform.errors import Conflict, FieldErrors, NotFound
from models.platform.outbound_targets import TargetRefused, check_target, url_problem
from models.platform.pagination import Page, PageRequest, keyset_order, keyset_past
from models.platform.timeutil import now_utc

KINDS = ("ical", "caldav")
NAME_MAX_LENGTH = 200
USERNAME_MAX_LENGTH = 200
PASSWORD_MAX_LENGTH = 1000
DEFAULT_INTERVAL_SECONDS = 300
MIN_INTERVAL_SECONDS = 60
MAX_INTERVAL_SECONDS = 86_400


class SyncInProgress(Conflict):
    """Another process is syncing this calendar right now."""

    message = "Calendar sync already in progress"


@dataclass(slots=True)
class ExternalCalendarInput:
    kind: Any = None
    url: Any = field(default=None, repr=False)
    username: Any = None
    password: Any = field(default=None, repr=False)
    name: Any = None
    sync_interval_seconds: Any = None


@dataclass(slots=True)
class BusySlots:
    """The provider's slots the calendar's busy time overlaps: without an active booking,
    and with one (left for the admin)."""

    blocked_slot_ids: list[int] = field(default_factory=list)
    booked_slot_ids: list[int] = field(default_factory=list)


def display_url(kind: str, url: str) -> str:
    """What a reply shows of the address: an iCalendar URL's origin only."""
    if kind == "caldav":
        return url
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


def _kind(errors: FieldErrors, value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        errors.add("kind", "can't be blank")
        return None
    if value not in KINDS:
        errors.add("kind", "is not included in the list")
        return None
    return str(value)


def _url(errors: FieldErrors, value: Any) -> str | None:
    if isinstance(value, str) and value.lower().startswith("webcal://"):
        # The scheme calendar apps register for subscriptions: HTTPS underneath.
        value = "https://" + value[len("webcal://") :]
    problem = url_problem(value)
    if problem is not None:
        errors.add("url", problem)
        return None
    assert isinstance(value, str)
    return value


def _text(errors: FieldErrors, name: str, value: Any, limit: int) -> str | None:
    """Optional text; the value itself never appears in a message."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors.add(name, "is invalid")
        return None
    if len(value) > limit:
        errors.add(name, f"is too long (maximum is {limit} characters)")
    return value


def _interval(errors: FieldErrors, value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add("sync_interval_seconds", "is invalid")
        return default
    if value < MIN_INTERVAL_SECONDS:
        errors.add(
            "sync_interval_seconds", f"must be greater than or equal to {MIN_INTERVAL_SECONDS}"
        )
    elif value > MAX_INTERVAL_SECONDS:
        errors.add("sync_interval_seconds", f"must be less than or equal to {MAX_INTERVAL_SECONDS}")
    return value


async def create_external_calendar(
    session: AsyncSession,
    provider_id: int,
    data: ExternalCalendarInput,
    *,
    box: SecretBox,
    allow_private: bool,
    default_interval: int = DEFAULT_INTERVAL_SECONDS,
) -> ExternalCalendar:
    """Store the calendar (due for its first sync at once); 404 for an unknown provider,
    422 on bad fields, a refused address (CALENDAR_ALLOW_PRIVATE_TARGETS) or no key."""
    if await session.get(Provider, provider_id) is None:
        raise NotFound()
    errors = FieldErrors()
    kind = _kind(errors, data.kind)
    url = _url(errors, data.url)
    username = _text(errors, "username", data.username, USERNAME_MAX_LENGTH)
    password = _text(errors, "password", data.password, PASSWORD_MAX_LENGTH)
    name = _text(errors, "name", data.name, NAME_MAX_LENGTH)
    interval = _interval(errors, data.sync_interval_seconds, default_interval)
    if url is not None:
        try:
            await check_target(url, allow_private=allow_private)
        except TargetRefused as exc:
            errors.add("url", str(exc))
    if not box.ready:
        errors.add("credentials", "can't be stored until CALENDAR_SECRET_KEYS is set")
    errors.raise_if_any()
    assert kind is not None and url is not None
    sealed = box.seal(CalendarSecret(url=url, password=password))
    async with write_transaction(session):
        moment = now_utc()
        calendar = ExternalCalendar(
            provider_id=provider_id,
            kind=kind,
            name=name,
            display_url=display_url(kind, url),
            username=username,
            credentials=sealed,
            sync_interval_seconds=interval,
            next_sync_at=moment,
            consecutive_failures=0,
            created_at=moment,
            updated_at=moment,
        )
        session.add(calendar)
        await session.flush()
    return calendar


async def get_external_calendar(
    session: AsyncSession, provider_id: int | None, calendar_id: int
) -> ExternalCalendar:
    """The calendar (of that provider, when given); 404 otherwise."""
    stmt = select(ExternalCalendar).where(ExternalCalendar.id == calendar_id)
    if provider_id is not None:
        stmt = stmt.where(ExternalCalendar.provider_id == provider_id)
    calendar = (
        await session.execute(stmt.execution_options(populate_existing=True))
    ).scalar_one_or_none()
    if calendar is None:
        raise NotFound()
    return calendar


async def list_external_calendars(
    session: AsyncSession,
    provider_id: int,
    *,
    page: PageRequest,
    after: int | None = None,
    backward: bool = False,
) -> Page[ExternalCalendar]:
    """The provider's calendars in creation order (``backward``: the ones before ``after``,
    latest first); 404 for an unknown provider."""
    if await session.get(Provider, provider_id) is None:
        raise NotFound()
    condition = ExternalCalendar.provider_id == provider_id
    total = (
        await session.execute(select(func.count()).select_from(ExternalCalendar).where(condition))
    ).scalar_one()
    key = (ExternalCalendar.id,)
    stmt = (
        select(ExternalCalendar)
        .where(condition)
        .order_by(*keyset_order(key, backward=backward))
        .limit(page.page_size)
        .execution_options(populate_existing=True)
    )
    if after is not None:
        stmt = stmt.where(keyset_past(key, (after,), backward=backward))
    else:
        stmt = stmt.offset(page.offset)
    items = list((await session.execute(stmt)).scalars())
    return Page(items=items, total=total, page=page.page, page_size=page.page_size)


async def delete_external_calendar(
    session: AsyncSession, provider_id: int | None, calendar_id: int
) -> None:
    """Forget the calendar and its busy time: the slots it closed reopen unless closed
    otherwise."""
    async with write_transaction(session):
        calendar = await get_external_calendar(session, provider_id, calendar_id)
        span = await busy_span(session, calendar_id)
        await session.execute(delete(ExternalBusy).where(ExternalBusy.calendar_id == calendar_id))
        if span is not None:
            busy_changed_event(session, calendar.provider_id, calendar_id, span)
        await session.delete(calendar)


async def busy_span(session: AsyncSession, calendar_id: int) -> tuple[datetime, datetime] | None:
    first, last = (
        await session.execute(
            select(func.min(ExternalBusy.start_time), func.max(ExternalBusy.end_time)).where(
                ExternalBusy.calendar_id == calendar_id
            )
        )
    ).one()
    return None if first is None else (first, last)


def busy_changed_event(
    session: AsyncSession, provider_id: int, calendar_id: int, span: tuple[datetime, datetime]
) -> None:
    # Ids and the range changed only: nothing of the events read there.
    events.record_event(
        session,
        type=events.EXTERNAL_BUSY_CHANGED,
        provider_id=provider_id,
        external_calendar_id=calendar_id,
        start_time=span[0],
        end_time=span[1],
    )


async def slots_of(
    session: AsyncSession, calendars: list[ExternalCalendar]
) -> dict[int, BusySlots]:
    """Each calendar's overlapped slots as they are now: one statement for the whole page."""
    found: dict[int, BusySlots] = {calendar.id: BusySlots() for calendar in calendars}
    if not calendars:
        return found
    stmt = (
        select(ExternalBusy.calendar_id, AvailableSlot.id, AvailableSlot.booked_count)
        .join(
            AvailableSlot,
            and_(
                AvailableSlot.provider_id == ExternalBusy.provider_id,
                AvailableSlot.start_time < ExternalBusy.end_time,
                AvailableSlot.end_time > ExternalBusy.start_time,
            ),
        )
        .where(ExternalBusy.calendar_id.in_(list(found)))
        .order_by(ExternalBusy.calendar_id, AvailableSlot.start_time, AvailableSlot.id)
    )
    seen: set[tuple[int, int]] = set()
    for calendar_id, slot_id, booked in (await session.execute(stmt)).tuples():
        if (calendar_id, slot_id) in seen:
            continue
        seen.add((calendar_id, slot_id))
        slots = found[calendar_id]
        (slots.booked_slot_ids if booked > 0 else slots.blocked_slot_ids).append(slot_id)
    return found


async def busy_intervals_of(
    session: AsyncSession, calendar_id: int
) -> list[tuple[datetime, datetime]]:
    """The stored busy intervals of one calendar, in time order."""
    rows = await session.execute(
        select(ExternalBusy.start_time, ExternalBusy.end_time)
        .where(ExternalBusy.calendar_id == calendar_id)
        .order_by(ExternalBusy.start_time, ExternalBusy.end_time)
    )
    return [(start, end) for start, end in rows.tuples()]
