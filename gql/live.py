"""The ``availabilityChanged`` subscription: the event stream, filtered, resumable.

Each subscription reads the event table from its own position (ids are in commit order,
so "after N" has no gap and no repeat) and sleeps on the process's event hub between
reads; the hub is woken by commits in this process and, on PostgreSQL, by NOTIFY from
every process.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import joinedload
from strawberry.types import Info

from common.event_hub import EventHub
from common.strict_numbers import plain_number
from gql.context import Context
from gql.errors import error_extensions
from gql.types import AvailableSlot
from models.platform.entities import AvailableSlot as SlotRow
from models.platform.errors import DomainError, EventExpired, FieldErrors, ValidationFailed
from models.platform.event_tables import AvailabilityEvent as EventRow
from models.platform.events import events_after, first_event_id, last_event_id, resumable
from models.platform.timeutil import day_end, day_start
from models.scheduling.slots import check_filters

PAGE = 500
MAX_POSITION = 2**63 - 1
# Wake up now and then even without news: a missed notification costs at most this.
IDLE_SECONDS = 5.0


@strawberry.type(description="A change to a provider's availability, from the event stream.")
class AvailabilityEvent:
    event_id: str = strawberry.field(description="Pass as `after` to resume after this event.")
    type: str = strawberry.field(description="slot.created, booking.cancelled, hold.expired, ...")
    occurred_at: datetime = strawberry.field(description="When the change was committed.")
    provider_id: int = strawberry.field(description="The provider whose availability changed.")
    slot_id: int | None = strawberry.field(description="The slot changed, if one was.")
    slot: AvailableSlot | None = strawberry.field(description="The slot now; null once deleted.")
    previous_slot_id: int | None = strawberry.field(
        default=None,
        description="booking.rescheduled: the slot the booking left (slotId is where it went).",
    )
    waitlist_entry_id: int | None = strawberry.field(
        default=None,
        description="waitlist.offered: the entry offered the seat (holdId the hold kept).",
    )
    hold_id: int | None = strawberry.field(
        default=None, description="The hold the change is about (hold.*, waitlist.offered)."
    )
    booking_id: int | None = strawberry.field(
        default=None, description="The booking the change is about, if any."
    )


def _position(errors: FieldErrors, after: str | None) -> int | None:
    if after is None:
        return None
    position = plain_number(after, MAX_POSITION)
    if position is None:
        errors.add("after", "is invalid")
    return position


async def _slots(session: AsyncSession, rows: list[EventRow]) -> dict[int, SlotRow]:
    ids = {row.slot_id for row in rows if row.slot_id is not None}
    if not ids:
        return {}
    stmt = select(SlotRow).options(joinedload(SlotRow.provider)).where(SlotRow.id.in_(ids))
    return {slot.id: slot for slot in (await session.execute(stmt)).scalars()}


def _live(info: Info[Context, None]) -> tuple[async_sessionmaker[AsyncSession], EventHub]:
    connection: Any = info.context.request
    state: Any = connection.app.state
    return state.sessionmaker, state.event_hub


def _message(error: DomainError) -> str:
    return "Validation failed" if isinstance(error.errors, dict) else error.detail


@strawberry.type(description="Live updates over a WebSocket (graphql-transport-ws).")
class LiveSubscription:
    @strawberry.subscription(
        description="Every change to availability from now on (or after the event `after`), "
        "optionally only one provider's and only slots starting in startDate..endDate. "
        'Needs an admin token in the connection_init payload: {"X-User-Token": "..."}. '
        "An `after` older than the events still kept (EVENT_RETENTION_DAYS) is the error "
        "EVENT_EXPIRED: fetch the current state, then subscribe without `after`."
    )
    async def availability_changed(
        self,
        info: Info[Context, None],
        provider_id: Annotated[
            int | None, strawberry.argument(description="Only this provider's changes.")
        ] = None,
        start_date: Annotated[
            date | None,
            strawberry.argument(description="Only slots starting on or after this clinic day."),
        ] = None,
        end_date: Annotated[
            date | None,
            strawberry.argument(description="Only slots starting on or before this clinic day."),
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="Resume after this eventId.")
        ] = None,
    ) -> AsyncGenerator[AvailabilityEvent, None]:
        context = info.context
        errors = FieldErrors()
        start, end = check_filters(errors, start_date=start_date, end_date=end_date)
        position = _position(errors, after)
        try:
            await context.require_admin()
            errors.raise_if_any()
        except DomainError as exc:
            # Subscriptions bypass the DomainErrors extension: the same shape, made here.
            raise GraphQLError(_message(exc), extensions=error_extensions(exc)) from None
        zone = context.settings.clinic_zone
        lower = day_start(start, zone) if start is not None else None
        upper = day_end(end, zone) if end is not None else None
        sessionmaker, hub = _live(info)
        async with sessionmaker() as session:
            newest = await last_event_id(session)
            if position is None:
                position = newest
            elif position > newest:
                # No such event yet: the ids to come would be skipped up to it.
                beyond = ValidationFailed.one("after", "is after the newest event")
                raise GraphQLError(_message(beyond), extensions=error_extensions(beyond))
            elif not resumable(position, await first_event_id(session)):
                # Resuming would silently skip the purged events.
                expired = EventExpired()
                raise GraphQLError(expired.detail, extensions=error_extensions(expired))
        while True:
            seen = hub.generation
            async with sessionmaker() as session:
                rows = await events_after(session, position, limit=PAGE, provider_id=provider_id)
                slots = await _slots(session, rows)
            for row in rows:
                position = row.id
                if lower is not None and (row.start_time is None or row.start_time < lower):
                    continue
                if upper is not None and (row.start_time is None or row.start_time >= upper):
                    continue
                slot = slots.get(row.slot_id) if row.slot_id is not None else None
                yield AvailabilityEvent(
                    event_id=str(row.id),
                    type=row.type,
                    occurred_at=row.occurred_at,
                    provider_id=row.provider_id,
                    slot_id=row.slot_id,
                    previous_slot_id=row.previous_slot_id,
                    waitlist_entry_id=row.waitlist_entry_id,
                    hold_id=row.hold_id,
                    booking_id=row.booking_id,
                    slot=AvailableSlot.from_row(slot) if slot is not None else None,
                )
            if len(rows) < PAGE:
                await hub.wait(IDLE_SECONDS, since=seen)
