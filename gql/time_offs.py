"""Time off: a provider away closes their slots in the range; queries and mutations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from gql.context import Context
from gql.pagination import (
    After,
    Before,
    Connection,
    First,
    Last,
    connection,
    decode_time_id_cursor,
    page_window,
)
from gql.types import Node
from models.platform.entities import TimeOff as TimeOffRow
from models.platform.errors import FieldErrors
from models.scheduling import time_offs as time_off_ops
from models.scheduling.slots import check_filters
from models.scheduling.time_offs import TimeOffFilters, TimeOffInput, TimeOffSlots

DATE_HELP = "A calendar day, YYYY-MM-DD, in the clinic time zone; time offs overlapping it."


@strawberry.type(description="A provider away: their slots in the range take no booking.")
class TimeOff(Node):
    id: int = strawberry.field(description="The time off's id.")
    provider_id: int = strawberry.field(description="The provider away.")
    start_time: datetime = strawberry.field(description="When the time off starts.")
    end_time: datetime = strawberry.field(description="When it ends.")
    reason: str | None = strawberry.field(description="Health-adjacent; never logged.")
    blocked_slot_ids: list[int] = strawberry.field(
        description="Overlapped slots without an active booking."
    )
    booked_slot_ids: list[int] = strawberry.field(
        description="Overlapped slots with an active booking, left for the admin."
    )
    created_at: datetime = strawberry.field(description="When it was added.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_row(cls, row: TimeOffRow, slots: TimeOffSlots) -> TimeOff:
        return cls(
            id=row.id,
            provider_id=row.provider_id,
            start_time=row.start_time,
            end_time=row.end_time,
            reason=row.reason,
            blocked_slot_ids=slots.blocked_slot_ids,
            booked_slot_ids=slots.booked_slot_ids,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.input(description="Filters of time offs; all optional, combined with AND.")
class TimeOffFilter:
    provider_id: int | None = strawberry.field(
        default=None, description="This provider's time offs."
    )
    start_date: date | None = strawberry.field(default=None, description=DATE_HELP)
    end_date: date | None = strawberry.field(default=None, description=f"{DATE_HELP} Inclusive.")


@strawberry.input(description="A provider away over a range.")
class CreateTimeOffInput:
    provider_id: int = strawberry.field(description="The provider away.")
    start_time: datetime = strawberry.field(description="When it starts.")
    end_time: datetime = strawberry.field(description="When it ends, after its start.")
    reason: str | None = strawberry.field(default=None, description="At most 500 characters.")


@strawberry.type(description="The time off deleteTimeOff lifted.")
class DeleteTimeOffPayload:
    id: int = strawberry.field(description="The lifted time off's id.")
    deleted: bool = strawberry.field(description="Always true.")


async def load_time_off(context: Context, id: int) -> TimeOff:
    """One time off with its slots (the caller checked the caller)."""
    session = context.session
    row = await time_off_ops.get_time_off(session, id)
    slots = await time_off_ops.slots_of(session, [row])
    return TimeOff.from_row(row, slots[row.id])


def _cursor(row: TimeOffRow) -> tuple[datetime, int]:
    return row.start_time, row.id


@strawberry.type
class TimeOffQuery:
    @strawberry.field(description="Time offs in time order, filtered.")
    async def time_offs(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            TimeOffFilter | None,
            strawberry.argument(description="Which items; all when not given."),
        ] = None,
    ) -> Connection[TimeOff]:
        await info.context.require_admin()
        wanted = filter or TimeOffFilter()
        errors = FieldErrors()
        start, end = check_filters(
            errors,
            start_date=wanted.start_date,
            end_date=wanted.end_date,
            max_range_days=info.context.settings.max_query_range_days,
        )
        errors.raise_if_any()
        window = page_window(first, info.context.settings, after=after, last=last, before=before)
        session = info.context.session
        page = await time_off_ops.list_time_offs(
            session,
            TimeOffFilters(provider_id=wanted.provider_id, start_date=start, end_date=end),
            page=window.request,
            zone=info.context.settings.clinic_zone,
            after=decode_time_id_cursor(window.cursor, window.cursor_field),
            backward=window.backward,
        )
        slots = await time_off_ops.slots_of(session, page.items)
        return connection(page, window, lambda row: TimeOff.from_row(row, slots[row.id]), _cursor)

    @strawberry.field(description="One time off by id.")
    async def time_off(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The time off's id.")],
    ) -> TimeOff:
        await info.context.require_admin()
        return await load_time_off(info.context, id)


@strawberry.type
class TimeOffMutation:
    @strawberry.mutation(description="Close a provider's slots over a range (may overlap others).")
    async def create_time_off(
        self,
        info: Info[Context, None],
        input: Annotated[
            CreateTimeOffInput, strawberry.argument(description="The fields to write.")
        ],
    ) -> TimeOff:
        await info.context.require_admin()
        row, slots = await time_off_ops.create_time_off(
            info.context.session,
            TimeOffInput(
                provider_id=input.provider_id,
                start_time=input.start_time,
                end_time=input.end_time,
                reason=input.reason,
            ),
        )
        return TimeOff.from_row(row, slots)

    @strawberry.mutation(description="Lift a time off; its slots reopen unless closed otherwise.")
    async def delete_time_off(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The time off's id.")],
    ) -> DeleteTimeOffPayload:
        await info.context.require_admin()
        await time_off_ops.delete_time_off(info.context.session, id)
        return DeleteTimeOffPayload(id=id, deleted=True)
