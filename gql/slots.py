"""Available slots: list, search, get, create, update, delete."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from common.settings import Settings, limits_of
from gql.context import Context
from gql.input_building import built_once
from gql.pagination import (
    After,
    Before,
    Connection,
    First,
    Last,
    PageWindow,
    connection,
    decode_time_id_cursor,
    encode_time_id_cursor,
    page_window,
)
from gql.plan.lean import renders
from gql.plan.rendered import rendered, rendered_picks
from gql.types import AvailableSlot, RecurrencePattern, pattern_value
from models.platform.entities import AvailableSlot as SlotRow
from models.platform.errors import FieldErrors
from models.platform.record_render import Picks
from models.scheduling import series as series_ops
from models.scheduling import slot_render
from models.scheduling import slots as slot_ops
from models.scheduling.slots import SlotInput

DATE_HELP = "A calendar day, YYYY-MM-DD, in the clinic time zone."


@built_once
@strawberry.input(description="Filters of availableSlots; all optional, combined with AND.")
class AvailableSlotFilter:
    provider_id: int | None = strawberry.field(default=None, description="This provider's slots.")
    start_date: date | None = strawberry.field(default=None, description=DATE_HELP)
    end_date: date | None = strawberry.field(default=None, description=f"{DATE_HELP} Inclusive.")
    available: bool | None = strawberry.field(
        default=None,
        description="Bookable slots (true: open, a free seat, and a free resource where the "
        "slot needs one) or the others (false).",
    )
    appointment_type: str | None = strawberry.field(
        default=None, description="Slots of this type, and slots open to any type."
    )


@strawberry.input(description="A slot to publish, or the first of a recurring series.")
class CreateAvailableSlotInput:
    provider_id: int = strawberry.field(description="The provider, who must be active.")
    start_time: datetime = strawberry.field(description="When the slot starts, in the future.")
    end_time: datetime = strawberry.field(description="When the slot ends, after its start.")
    appointment_type: str | None = strawberry.field(
        default=strawberry.UNSET, description="One of the clinic's appointment types; null: any."
    )
    available: bool | None = strawberry.field(
        default=strawberry.UNSET, description="false publishes the slot closed (default true)."
    )
    capacity: int | None = strawberry.field(
        default=strawberry.UNSET, description="Seats, 1 to 100 (default 1)."
    )
    recurring: bool | None = strawberry.field(
        default=strawberry.UNSET, description="true creates a series of occurrences."
    )
    recurrence_pattern: RecurrencePattern | None = strawberry.field(
        default=strawberry.UNSET, description="How the series repeats; needed when recurring."
    )
    recurrence_rule: str | None = strawberry.field(
        default=strawberry.UNSET, description="RFC 5545 RRULE, needed for CUSTOM."
    )
    recurrence_end_date: date | None = strawberry.field(
        default=strawberry.UNSET, description="Last day of the series, inclusive."
    )
    resource_kind: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The kind of an active resource (see `resources`) the slot needs; null: none.",
    )


@strawberry.input(description="Only the fields given change.")
class UpdateAvailableSlotInput:
    provider_id: int | None = strawberry.field(
        default=strawberry.UNSET, description="Move the slot to this provider."
    )
    start_time: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="The new start."
    )
    end_time: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="The new end."
    )
    appointment_type: str | None = strawberry.field(
        default=strawberry.UNSET, description="The new appointment type; null: any."
    )
    available: bool | None = strawberry.field(
        default=strawberry.UNSET, description="false closes the slot; true lifts that close only."
    )
    capacity: int | None = strawberry.field(
        default=strawberry.UNSET, description="Seats, 1 to 100; not below the seats taken."
    )
    recurring: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Whether the slot repeats."
    )
    recurrence_pattern: RecurrencePattern | None = strawberry.field(
        default=strawberry.UNSET, description="How the slot repeats."
    )
    recurrence_rule: str | None = strawberry.field(
        default=strawberry.UNSET, description="RFC 5545 RRULE, for CUSTOM."
    )
    resource_kind: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The kind of resource the slot needs; null: none. Fixed while the slot "
        "keeps a resource for a hold.",
    )


@strawberry.type(description="The slot deleteAvailableSlot removed.")
class DeleteAvailableSlotPayload:
    id: int = strawberry.field(description="The deleted slot's id.")
    deleted: bool = strawberry.field(description="Always true.")


def slot_input(data: CreateAvailableSlotInput | UpdateAvailableSlotInput) -> SlotInput:
    """The fields the client gave, as the domain's partial input."""
    sent: dict[str, Any] = {
        name: value
        for name, value in vars(data).items()
        if value is not strawberry.UNSET and name in SlotInput.__dataclass_fields__
    }
    if "recurrence_pattern" in sent:
        sent["recurrence_pattern"] = pattern_value(sent["recurrence_pattern"])
    return SlotInput(**sent)


def slot_cursor(row: SlotRow | Any) -> str:
    return encode_time_id_cursor(row.start_time, row.id)


async def _one_slot(context: Context, picks: Picks, id: int) -> str:
    return await slot_render.slot_json(context.session, picks, id)


async def checked_filter(
    session: AsyncSession,
    errors: FieldErrors,
    filter: AvailableSlotFilter | None,
    settings: Settings,
) -> slot_ops.SlotFilters:
    """The slot filter as the domain checks it; its errors added to ``errors``."""
    wanted = filter or AvailableSlotFilter()
    return await slot_ops.checked_slot_filters(
        session,
        errors,
        provider_id=wanted.provider_id,
        start_date=wanted.start_date,
        end_date=wanted.end_date,
        available=wanted.available,
        appointment_type=wanted.appointment_type,
        max_range_days=settings.max_query_range_days,
    )


async def _slot_request(
    context: Context,
    filter: AvailableSlotFilter | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> tuple[slot_ops.SlotFilters, PageWindow]:
    """The list's filters and page window, as checked; ValidationFailed otherwise."""
    settings = context.settings
    errors = FieldErrors()
    filters = await checked_filter(context.session, errors, filter, settings)
    errors.raise_if_any()
    return filters, page_window(first, settings, after=after, last=last, before=before)


async def _slot_page(
    context: Context,
    picks: Picks,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    filter: AvailableSlotFilter | None = None,
) -> str:
    filters, window = await _slot_request(context, filter, first, after, last, before)
    return await slot_render.slot_page_json(
        context.session,
        picks,
        filters,
        first=window.first,
        zone=context.settings.clinic_zone,
        after=decode_time_id_cursor(window.cursor, window.cursor_field),
        backward=window.backward,
    )


def _search_request(
    settings: Settings,
    day: date | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> tuple[date | None, PageWindow]:
    """The search's day and page window, as checked; ValidationFailed otherwise."""
    errors = FieldErrors()
    on_date, _ = slot_ops.check_filters(errors, start_date=day)
    if errors.has("start_date"):
        errors.fields["date"] = errors.fields.pop("start_date")
    errors.raise_if_any()
    return on_date, page_window(first, settings, after=after, last=last, before=before)


async def _search_page(
    context: Context,
    picks: Picks,
    *,
    provider_id: int | None = None,
    date: date | None = None,
    duration: int | None = None,
    appointment_type: str | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> str:
    settings = context.settings
    on_date, window = _search_request(settings, date, first, after, last, before)
    return await slot_render.search_page_json(
        context.session,
        picks,
        provider_id=provider_id,
        on_date=on_date,
        duration=duration,
        appointment_type=appointment_type,
        first=window.first,
        zone=settings.clinic_zone,
        after=decode_time_id_cursor(window.cursor, window.cursor_field),
        backward=window.backward,
    )


@strawberry.type
class SlotQuery:
    @strawberry.field(description="Slots in time order, filtered; keyset-paginated.")
    @renders(_slot_page)
    async def available_slots(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            AvailableSlotFilter | None, strawberry.argument(description="Which slots.")
        ] = None,
    ) -> Connection[AvailableSlot]:
        await info.context.require_admin()
        if (picks := rendered_picks()) is not None:
            return await rendered(  # type: ignore[no-any-return]
                _slot_page(
                    info.context,
                    picks,
                    first=first,
                    after=after,
                    last=last,
                    before=before,
                    filter=filter,
                )
            )
        settings = info.context.settings
        filters, window = await _slot_request(info.context, filter, first, after, last, before)
        page = await slot_ops.list_slots(
            info.context.session,
            filters,
            page=window.request,
            zone=settings.clinic_zone,
            after=decode_time_id_cursor(window.cursor, window.cursor_field),
            backward=window.backward,
        )
        return connection(page, window, AvailableSlot.from_row, slot_cursor)

    @strawberry.field(
        description="Available future slots at least `duration` minutes long, on `date`."
    )
    @renders(_search_page)
    async def search_available_slots(
        self,
        info: Info[Context, None],
        provider_id: Annotated[
            int | None, strawberry.argument(description="Only this provider's slots.")
        ] = None,
        date: Annotated[date | None, strawberry.argument(description=DATE_HELP)] = None,
        duration: Annotated[int | None, strawberry.argument(description="Minutes.")] = None,
        appointment_type: Annotated[
            str | None,
            strawberry.argument(description="Slots of this type, and slots open to any type."),
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[AvailableSlot]:
        await info.context.require_admin()
        if (picks := rendered_picks()) is not None:
            return await rendered(  # type: ignore[no-any-return]
                _search_page(
                    info.context,
                    picks,
                    provider_id=provider_id,
                    date=date,
                    duration=duration,
                    appointment_type=appointment_type,
                    first=first,
                    after=after,
                    last=last,
                    before=before,
                )
            )
        settings = info.context.settings
        on_date, window = _search_request(settings, date, first, after, last, before)
        page = await slot_ops.search_slots(
            info.context.session,
            provider_id=provider_id,
            on_date=on_date,
            duration=duration,
            appointment_type=appointment_type,
            page=window.request,
            zone=settings.clinic_zone,
            after=decode_time_id_cursor(window.cursor, window.cursor_field),
            backward=window.backward,
        )
        return connection(page, window, AvailableSlot.from_row, slot_cursor)

    @strawberry.field(description="One slot by id.")
    @renders(_one_slot)
    async def available_slot(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The slot's id.")],
    ) -> AvailableSlot:
        await info.context.require_admin()
        if (picks := rendered_picks()) is not None:
            return await rendered(_one_slot(info.context, picks, id))
        return AvailableSlot.from_row(await slot_ops.get_slot(info.context.session, id))


@strawberry.type
class SlotMutation:
    @strawberry.mutation(description="Publish a slot, or a recurring series of slots.")
    async def create_available_slot(
        self,
        info: Info[Context, None],
        input: Annotated[
            CreateAvailableSlotInput, strawberry.argument(description="The fields to write.")
        ],
    ) -> AvailableSlot:
        await info.context.require_admin()
        row = await series_ops.create_slot(
            info.context.session, slot_input(input), limits=limits_of(info.context.settings)
        )
        return AvailableSlot.from_row(row)

    @strawberry.mutation(description="Change the fields given; the others stay.")
    async def update_available_slot(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The slot's id.")],
        input: Annotated[
            UpdateAvailableSlotInput, strawberry.argument(description="The fields to write.")
        ],
    ) -> AvailableSlot:
        await info.context.require_admin()
        row = await slot_ops.update_slot(info.context.session, id, slot_input(input))
        return AvailableSlot.from_row(row)

    @strawberry.mutation(description="Delete a slot that has no active booking.")
    async def delete_available_slot(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The slot's id.")],
    ) -> DeleteAvailableSlotPayload:
        await info.context.require_admin()
        await slot_ops.delete_slot(info.context.session, id)
        return DeleteAvailableSlotPayload(id=id, deleted=True)
