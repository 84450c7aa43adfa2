"""Bookings and utilization: queries and mutations.

``notes`` is health information: list resolvers read the column only when the client
selected the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

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
from gql.plan.rendered import rendered, rendered_picks
from gql.types import Node
from models.booking import booking_render
from models.booking import bookings as booking_ops
from models.booking.bookings import (
    BookingChange,
    BookingFilters,
    BookingInput,
    RescheduleInput,
)
from models.booking.requests import confirm_booking, decline_booking, status_at
from models.booking.utilization import UtilizationNumbers as NumbersRow
from models.booking.utilization import UtilizationReport, utilization
from models.platform.audit import record_notes_read
from models.platform.entities import Booking as BookingRow
from models.platform.errors import FieldErrors
from models.platform.timeutil import now_utc

DATE_HELP = "A calendar day, YYYY-MM-DD, in the clinic time zone."


@strawberry.enum(
    description="CONFIRMED, then CANCELLED, NO_SHOW or COMPLETED; a request is PENDING, then "
    "CONFIRMED, DECLINED or EXPIRED."
)
class BookingStatus(Enum):
    CONFIRMED = strawberry.enum_value("confirmed", description="Booked; the seat is taken.")
    CANCELLED = strawberry.enum_value("cancelled", description="Cancelled; the seat is free.")
    NO_SHOW = strawberry.enum_value("no_show", description="The patient did not come.")
    COMPLETED = strawberry.enum_value("completed", description="The appointment took place.")
    PENDING = strawberry.enum_value(
        "pending",
        description="A booking request: keeps its seat until confirmed, declined or "
        "pendingExpiresAt.",
    )
    DECLINED = strawberry.enum_value("declined", description="A request declined; seat freed.")
    EXPIRED = strawberry.enum_value(
        "expired", description="A request that reached pendingExpiresAt; its seat is free."
    )


@strawberry.type(description="A patient booked into an available slot.")
class Booking(Node):
    id: int = strawberry.field(description="The booking's id.")
    available_slot_id: int = strawberry.field(description="The booked slot's id.")
    patient_id: int = strawberry.field(description="The patient's id.")
    appointment_type: str | None = strawberry.field(
        description="The appointment type booked (the slot's unless given)."
    )
    status: BookingStatus = strawberry.field(description="Where the booking stands.")
    cancellation_reason: str | None = strawberry.field(
        description="Why it was cancelled; health-adjacent, never logged."
    )
    cancelled_at: datetime | None = strawberry.field(description="When it was cancelled.")
    rescheduled_from_slot_id: int | None = strawberry.field(
        description="The slot the latest reschedule moved this booking from; null if never moved."
    )
    reschedule_count: int = strawberry.field(description="How often the booking was moved.")
    resource_id: int | None = strawberry.field(
        description="The resource (a room) the booking's slot took for it; null: none needed."
    )
    pending_expires_at: datetime | None = strawberry.field(
        description="A booking request: when it expires unless confirmed or declined."
    )
    created_at: datetime = strawberry.field(description="When it was booked.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    notes_value: strawberry.Private[str | None]

    @strawberry.field(description="Health information; read only when this field is selected.")
    def notes(self) -> str | None:
        return self.notes_value

    @classmethod
    def from_row(cls, row: BookingRow | Any, *, with_notes: bool = True) -> Booking:
        return cls(
            id=row.id,
            available_slot_id=row.available_slot_id,
            patient_id=row.patient_id,
            appointment_type=row.appointment_type,
            status=BookingStatus(status_at(row, now_utc()).value),
            cancellation_reason=row.cancellation_reason,
            cancelled_at=row.cancelled_at,
            rescheduled_from_slot_id=row.rescheduled_from_slot_id,
            reschedule_count=row.reschedule_count,
            resource_id=row.resource_id,
            pending_expires_at=row.pending_expires_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            notes_value=row.notes if with_notes else None,
        )


@strawberry.input(description="Filters of books; all optional, combined with AND.")
class BookingFilter:
    provider_id: int | None = strawberry.field(
        default=None, description="Bookings of this provider's slots."
    )
    patient_id: int | None = strawberry.field(default=None, description="Bookings of this patient.")
    available_slot_id: int | None = strawberry.field(
        default=None, description="Bookings of this slot."
    )
    status: BookingStatus | None = strawberry.field(
        default=None, description="Bookings in this status."
    )
    start_date: date | None = strawberry.field(
        default=None, description=f"{DATE_HELP} Compared with the slot's start."
    )
    end_date: date | None = strawberry.field(default=None, description=f"{DATE_HELP} Inclusive.")


@strawberry.input(description="A booking to make.")
class CreateBookInput:
    available_slot_id: int = strawberry.field(description="The slot to book.")
    patient_id: int = strawberry.field(description="The patient booked.")
    appointment_type: str | None = strawberry.field(
        default=None, description="Defaults to the slot's appointment type."
    )
    notes: str | None = strawberry.field(default=None, description="At most 2,000 characters.")
    hold_id: int | None = strawberry.field(
        default=None, description="A hold on this slot (and patient) that becomes the booking."
    )
    override_rules: bool = strawberry.field(
        default=False, description="Book past the provider's booking rules (audited)."
    )
    status: BookingStatus | None = strawberry.field(
        default=None,
        description="PENDING makes a booking request (the one status taken on create); "
        "confirmed when not given.",
    )
    pending_expires_at: datetime | None = strawberry.field(
        default=None,
        description="A request's expiry: in the next 7 days, not after the slot starts "
        "(default 24 hours, or the slot's start if sooner).",
    )


@strawberry.input(description="Only the fields given change.")
class UpdateBookInput:
    status: BookingStatus | None = strawberry.field(
        default=strawberry.UNSET,
        description="CANCELLED frees the slot; NO_SHOW and COMPLETED once the slot started.",
    )
    cancellation_reason: str | None = strawberry.field(
        default=strawberry.UNSET, description="Only when cancelling; at most 500 characters."
    )
    notes: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Health information, at most 2,000 characters; null clears them.",
    )
    override_rules: bool = strawberry.field(
        default=False,
        description="Cancel past the provider's cancellation cutoff (recorded in the audit).",
    )


@strawberry.input(description="Where to move a booking.")
class RescheduleBookInput:
    available_slot_id: int = strawberry.field(
        description="The slot to move to: same or another provider, open and in the future."
    )
    hold_id: int | None = strawberry.field(
        default=None, description="A hold on that slot (and patient) that the move uses."
    )
    override_rules: bool = strawberry.field(
        default=False,
        description="Move past the reschedule cutoff and the booking rules (audited).",
    )


@strawberry.type(description="Slot counts and minutes over a range of clinic days.")
class UtilizationNumbers:
    total_slots: int = strawberry.field(description="Slots starting in the range.")
    booked_slots: int = strawberry.field(description="Slots with an active booking.")
    open_slots: int = strawberry.field(description="Available slots without a booking.")
    blocked_slots: int = strawberry.field(description="Unavailable slots without a booking.")
    booked_minutes: int = strawberry.field(description="Minutes of the booked slots.")
    open_minutes: int = strawberry.field(description="Minutes of the open slots.")
    utilization_rate: float = strawberry.field(
        description="bookedMinutes / (bookedMinutes + openMinutes); 0 when nothing is bookable."
    )
    booked_seats: int = strawberry.field(description="Seats taken by active bookings.")
    open_seats: int = strawberry.field(description="Free seats on open slots.")

    @classmethod
    def from_numbers(cls, numbers: NumbersRow) -> UtilizationNumbers:
        return cls(
            total_slots=numbers.total_slots,
            booked_slots=numbers.booked_slots,
            open_slots=numbers.open_slots,
            blocked_slots=numbers.blocked_slots,
            booked_minutes=numbers.booked_minutes,
            open_minutes=numbers.open_minutes,
            utilization_rate=numbers.utilization_rate,
            booked_seats=numbers.booked_seats,
            open_seats=numbers.open_seats,
        )


@strawberry.type(description="One provider's utilization over the range.")
class ProviderUtilization:
    provider_id: int = strawberry.field(description="The provider's id.")
    first_name: str = strawberry.field(description="The provider's given name.")
    last_name: str = strawberry.field(description="The provider's family name.")
    numbers: UtilizationNumbers = strawberry.field(description="The provider's figures.")


@strawberry.type(description="Booked, open and blocked slots over a range of clinic days.")
class Utilization:
    start_date: date = strawberry.field(description="First day of the range.")
    end_date: date = strawberry.field(description="Last day of the range (inclusive).")
    time_zone: str = strawberry.field(description="The clinic time zone the days are in.")
    providers: list[ProviderUtilization] = strawberry.field(
        description="Providers with a slot in the range, by id."
    )
    totals: UtilizationNumbers = strawberry.field(description="All providers together.")

    @classmethod
    def from_report(cls, report: UtilizationReport) -> Utilization:
        return cls(
            start_date=report.start_date,
            end_date=report.end_date,
            time_zone=report.time_zone,
            providers=[
                ProviderUtilization(
                    provider_id=row.provider_id,
                    first_name=row.first_name,
                    last_name=row.last_name,
                    numbers=UtilizationNumbers.from_numbers(row.numbers),
                )
                for row in report.providers
            ],
            totals=UtilizationNumbers.from_numbers(report.totals),
        )


def _selects(selections: Iterable[Any], name: str) -> bool:
    for selection in selections:
        if isinstance(selection, SelectedField) and selection.name == name:
            return True
        if isinstance(selection, (SelectedField, FragmentSpread, InlineFragment)) and _selects(
            selection.selections, name
        ):
            return True
    return False


def selects_notes(info: Info[Context, None]) -> bool:
    """Whether the client asked for ``notes`` anywhere under this field."""
    return _selects(info.selected_fields, "notes")


def booking_cursor(row: Any) -> tuple[datetime, int]:
    """From a booking list row (it carries its slot's start)."""
    return row.slot_start_time, row.id


def _unset_to_domain(value: Any) -> Any:
    return booking_ops.UNSET if value is strawberry.UNSET else value


@strawberry.type
class BookingQuery:
    @strawberry.field(description="One booking by id.")
    async def book(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The booking's id.")],
    ) -> Booking:
        await info.context.require_admin()
        if (picks := rendered_picks()) is not None:
            text = await rendered(booking_render.booking_json(info.context.session, picks, id))
            if selects_notes(info):
                await record_notes_read(info.context.session, [id])
            return text
        row = await booking_ops.get_booking(info.context.session, id)
        if selects_notes(info):
            await record_notes_read(info.context.session, [row.id])
        return Booking.from_row(row)

    @strawberry.field(description="Bookings in appointment order, filtered; keyset-paginated.")
    async def books(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            BookingFilter | None,
            strawberry.argument(description="Which items; all when not given."),
        ] = None,
    ) -> Connection[Booking]:
        await info.context.require_admin()
        settings = info.context.settings
        wanted = filter or BookingFilter()
        errors = FieldErrors()
        status, start, end = booking_ops.check_booking_filters(
            errors,
            status=wanted.status.value if wanted.status is not None else None,
            start_date=wanted.start_date,
            end_date=wanted.end_date,
            max_range_days=settings.max_query_range_days,
        )
        errors.raise_if_any()
        window = page_window(first, settings, after=after, last=last, before=before)
        with_notes = selects_notes(info)
        filters = BookingFilters(
            provider_id=wanted.provider_id,
            patient_id=wanted.patient_id,
            available_slot_id=wanted.available_slot_id,
            status=status,
            start_date=start,
            end_date=end,
        )
        after_key = decode_time_id_cursor(window.cursor, window.cursor_field)
        if (picks := rendered_picks()) is not None:
            return await rendered(
                booking_render.booking_page_json(
                    info.context.session,
                    picks,
                    filters,
                    first=window.first,
                    zone=settings.clinic_zone,
                    include_notes=with_notes,
                    after=after_key,
                    backward=window.backward,
                )
            )
        page = await booking_ops.list_bookings(
            info.context.session,
            filters,
            page=window.request,
            zone=settings.clinic_zone,
            include_notes=with_notes,
            after=after_key,
            backward=window.backward,
            shown=window.count,
        )
        return connection(
            page, window, lambda row: Booking.from_row(row, with_notes=with_notes), booking_cursor
        )

    @strawberry.field(description="Booked, open and blocked slots per provider, and in total.")
    async def utilization(
        self,
        info: Info[Context, None],
        start_date: Annotated[date, strawberry.argument(description=DATE_HELP)],
        end_date: Annotated[date, strawberry.argument(description=f"{DATE_HELP} Inclusive.")],
        provider_id: Annotated[
            int | None, strawberry.argument(description="Only this provider.")
        ] = None,
    ) -> Utilization:
        await info.context.require_admin()
        settings = info.context.settings
        report = await utilization(
            info.context.session,
            start_date=start_date,
            end_date=end_date,
            provider_id=provider_id,
            zone=settings.clinic_zone,
            max_range_days=settings.max_query_range_days,
        )
        return Utilization.from_report(report)


@strawberry.type
class BookingMutation:
    @strawberry.mutation(description="Book a patient into an available, future slot.")
    async def create_book(
        self,
        info: Info[Context, None],
        input: Annotated[CreateBookInput, strawberry.argument(description="The fields to write.")],
    ) -> Booking:
        await info.context.require_admin()
        row = await booking_ops.create_booking(
            info.context.session,
            BookingInput(
                available_slot_id=input.available_slot_id,
                patient_id=input.patient_id,
                appointment_type=input.appointment_type,
                notes=input.notes,
                hold_id=input.hold_id,
                override_rules=input.override_rules,
                status=None if input.status is None else input.status.value,
                pending_expires_at=input.pending_expires_at,
            ),
            notes_max_length=info.context.settings.booking_notes_max_length,
        )
        return Booking.from_row(row)

    @strawberry.mutation(description="Change a booking's status, cancellation reason or notes.")
    async def update_book(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The booking's id.")],
        input: Annotated[UpdateBookInput, strawberry.argument(description="The fields to write.")],
    ) -> Booking:
        await info.context.require_admin()
        status = input.status
        change = BookingChange(
            status=status.value if isinstance(status, BookingStatus) else _unset_to_domain(status),
            cancellation_reason=_unset_to_domain(input.cancellation_reason),
            notes=_unset_to_domain(input.notes),
            override_rules=input.override_rules,
        )
        row = await booking_ops.update_booking(
            info.context.session,
            id,
            change,
            notes_max_length=info.context.settings.booking_notes_max_length,
        )
        return Booking.from_row(row)

    @strawberry.mutation(description="Cancel a booking; its slot becomes available again.")
    async def cancel_book(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The booking's id.")],
        reason: Annotated[
            str | None,
            strawberry.argument(description="Why; at most 500 characters, never logged."),
        ] = None,
        override_rules: Annotated[
            bool,
            strawberry.argument(
                description="Cancel past the provider's cancellation cutoff (audited)."
            ),
        ] = False,
    ) -> Booking:
        await info.context.require_admin()
        row = await booking_ops.cancel_booking(
            info.context.session, id, reason=reason, override_rules=override_rules
        )
        return Booking.from_row(row)

    @strawberry.mutation(
        description="Move a booking to another slot in one step: the new seat is taken under "
        "every rule a booking meets and the old one freed, or nothing changes. The booking "
        "keeps its id; announced as one booking.rescheduled event."
    )
    async def reschedule_book(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The booking's id.")],
        input: Annotated[RescheduleBookInput, strawberry.argument(description="Where to move it.")],
    ) -> Booking:
        await info.context.require_admin()
        row = await booking_ops.reschedule_booking(
            info.context.session,
            id,
            RescheduleInput(
                available_slot_id=input.available_slot_id,
                hold_id=input.hold_id,
                override_rules=input.override_rules,
            ),
        )
        return Booking.from_row(row)

    @strawberry.mutation(
        description="Confirm a booking request (PENDING to CONFIRMED). Exactly one of "
        "simultaneous confirms and declines wins; the others are CONFLICT."
    )
    async def confirm_book(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The booking's id.")],
    ) -> Booking:
        await info.context.require_admin()
        return Booking.from_row(await confirm_booking(info.context.session, id))

    @strawberry.mutation(
        description="Decline a booking request (PENDING to DECLINED); its seat is freed and "
        "offered to the waitlist."
    )
    async def decline_book(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The booking's id.")],
    ) -> Booking:
        await info.context.require_admin()
        return Booking.from_row(await decline_booking(info.context.session, id))
