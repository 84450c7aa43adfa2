"""The booking routes: the two documented ones, plus get and update (cancel, no-show,
completed)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from common.deps import AdminDep, SessionDep, SettingsDep
from common.strict_numbers import PathId
from models.booking import bookings as booking_ops
from models.booking.bookings import (
    BookingChange,
    BookingFilters,
    BookingInput,
    RescheduleInput,
)
from models.booking.requests import confirm_booking, decline_booking
from models.platform.audit import record_notes_read
from models.platform.errors import FieldErrors
from models.platform.pagination import MAX_PAGE_SIZE
from rest_compat.pagination import page_request, page_response
from rest_compat.render import book_json
from rest_compat.responses import JSONBody
from rest_compat.schemas import (
    AUTH_ERRORS,
    MAX_ID,
    STATUS_SCHEMA,
    DateQuery,
    OptionalAppointmentType,
    OptionalText,
    RequiredFlag,
    RequiredId,
    StatusQuery,
    documented,
    error_responses,
)

router = APIRouter(prefix="/books", tags=["Books"])

BOOK_EXAMPLE: dict[str, Any] = {
    "id": 123,
    "available_slot_id": 789,
    "patient_id": 1049,
    "appointment_type": "therapy",
    "notes": "Initial consultation",
    "status": "confirmed",
    "created_at": "2023-10-27T12:00:00.000Z",
    "updated_at": "2023-10-27T12:00:00.000Z",
    "rescheduled_from_slot_id": None,
    "reschedule_count": 0,
    "resource_id": None,
    "pending_expires_at": None,
}
STATUS_DESCRIPTION = (
    "confirmed, cancelled, no_show or completed; a booking request is pending, then "
    "confirmed, declined or expired"
)


class BookOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": BOOK_EXAMPLE})

    id: int
    available_slot_id: int
    patient_id: int
    appointment_type: str | None
    notes: str | None = Field(
        default=None,
        description="Health information. Lists leave this key out with include_notes=false.",
    )
    status: str = Field(description=STATUS_DESCRIPTION)
    created_at: str
    updated_at: str
    rescheduled_from_slot_id: int | None = Field(
        description="The slot the latest reschedule moved this booking from; null if never moved"
    )
    reschedule_count: int = Field(description="How often the booking was moved")
    resource_id: int | None = Field(
        default=None,
        description="The resource (a room) the booking's slot took for it; null: none needed",
    )
    pending_expires_at: str | None = Field(
        description="A booking request's expiry (status pending); null for other bookings"
    )


class BookFields(BaseModel):
    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"required": ["available_slot_id", "patient_id"]}
    )

    available_slot_id: RequiredId = Field(default=None, le=MAX_ID)
    patient_id: RequiredId = Field(default=None, le=MAX_ID)
    appointment_type: OptionalAppointmentType = Field(
        default=None, description="Defaults to the slot's"
    )
    notes: OptionalText = Field(default=None, description="At most 2,000 characters")
    hold_id: RequiredId = Field(
        default=None,
        le=MAX_ID,
        description="A hold on this slot (and patient) that becomes the booking at once",
    )
    override_rules: RequiredFlag = Field(
        default=None, description="Book past the provider's booking rules (recorded in the audit)"
    )
    status: Annotated[str | None, documented({"type": "string", "enum": ["pending"]})] = Field(
        default=None,
        description="pending makes a booking request that keeps its seat until confirmed, "
        "declined or pending_expires_at; the one status taken on create",
    )
    pending_expires_at: OptionalText = Field(
        default=None,
        examples=["2030-10-28T12:00:00.000Z"],
        description="With status pending: within 7 days, not after the slot starts (default "
        "24 hours on, or the slot's start if sooner)",
    )


class BookBody(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "required": ["book"],
            "example": {
                "book": {
                    "available_slot_id": 789,
                    "patient_id": 1049,
                    "appointment_type": "therapy",
                    "notes": "Initial consultation",
                }
            },
        },
    )

    book: BookFields


class BookChangeFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Annotated[str | None, documented(STATUS_SCHEMA)] = Field(
        default=None,
        description="cancelled (frees the slot), or no_show / completed once the slot started",
    )
    cancellation_reason: OptionalText = Field(
        default=None, description="Only with status cancelled; at most 500 characters"
    )
    notes: OptionalText = Field(default=None, description="At most 2,000 characters")
    override_rules: RequiredFlag = Field(
        default=None,
        description="Cancel past the provider's cancellation cutoff (recorded in the audit)",
    )

    def sent_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class BookChangeBody(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "example": {"book": {"status": "cancelled", "cancellation_reason": "Patient request"}}
        },
    )

    book: BookChangeFields


BookId = Annotated[PathId, Path(ge=1, le=MAX_ID, description="Booking id")]
IdParam = Annotated[int | None, Query(ge=1, le=MAX_ID)]
DateParam = Annotated[
    DateQuery, Query(description="YYYY-MM-DD, a day in the clinic time zone (slot start)")
]


@router.get(
    "",
    response_model=list[BookOut],
    responses=error_responses(*AUTH_ERRORS, 422),
    summary="List books",
    description="Bookings in appointment order. Every element carries `notes` (the read is "
    "audited) unless `include_notes=false`.",
)
async def list_books(
    request: Request,
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    page: Annotated[int | None, Query(ge=1, le=1_000_000, description="From 1")] = None,
    page_size: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
    provider_id: IdParam = None,
    patient_id: IdParam = None,
    available_slot_id: IdParam = None,
    status: Annotated[StatusQuery, Query(description=STATUS_DESCRIPTION)] = None,
    start_date: DateParam = None,
    end_date: DateParam = None,
    include_notes: Annotated[
        bool, Query(description="Return booking notes (false leaves the key out)")
    ] = True,
) -> Response:
    errors = FieldErrors()
    paging = page_request(settings, page, page_size, errors)
    parsed_status, start, end = booking_ops.check_booking_filters(
        errors,
        status=status,
        start_date=start_date,
        end_date=end_date,
        max_range_days=settings.max_query_range_days,
    )
    errors.raise_if_any()
    filters = BookingFilters(
        provider_id=provider_id,
        patient_id=patient_id,
        available_slot_id=available_slot_id,
        status=parsed_status,
        start_date=start,
        end_date=end,
    )
    result = await booking_ops.list_bookings(
        session, filters, page=paging, zone=settings.clinic_zone, include_notes=include_notes
    )
    items = [book_json(booking, include_notes=include_notes) for booking in result.items]
    return page_response(request, result, items)


@router.post(
    "",
    status_code=201,
    response_model=BookOut,
    responses=error_responses(*AUTH_ERRORS, 409, 422),
    summary="Create book",
    description="Books a patient into a seat of an available, future slot. A slot with no "
    'free seat, closed or in time off is 409 `"Slot is not available"`; a patient already '
    "booked on it is 422. `hold_id` turns a hold into the booking; `override_rules` books "
    "past the provider's booking rules. `status: pending` makes a booking request: it keeps "
    "its seat until confirmed, declined or `pending_expires_at`.",
)
async def create_book(
    body: BookBody, _admin: AdminDep, session: SessionDep, settings: SettingsDep
) -> Response:
    fields = body.book
    data = BookingInput(
        available_slot_id=fields.available_slot_id,
        patient_id=fields.patient_id,
        appointment_type=fields.appointment_type,
        notes=fields.notes,
        hold_id=fields.hold_id,
        override_rules=fields.override_rules,
        status=fields.status,
        pending_expires_at=fields.pending_expires_at,
    )
    booking = await booking_ops.create_booking(
        session, data, notes_max_length=settings.booking_notes_max_length
    )
    return JSONBody(book_json(booking), status_code=201)


@router.get(
    "/{book_id:id}",
    response_model=BookOut,
    responses=error_responses(*AUTH_ERRORS, 404),
    summary="Get a book",
)
async def get_book(book_id: BookId, _admin: AdminDep, session: SessionDep) -> Response:
    booking = await booking_ops.get_booking(session, book_id)
    await record_notes_read(session, [booking.id])
    return JSONBody(book_json(booking))


@router.put(
    "/{book_id:id}",
    response_model=BookOut,
    responses=error_responses(*AUTH_ERRORS, 404, 422),
    summary="Update a book: cancel, mark no_show / completed, or edit notes",
    description="`confirmed` may become `cancelled` (the slot is freed at once), or "
    "`no_show` / `completed` once the slot has started. Any other change of status is 422.",
)
async def update_book(
    book_id: BookId,
    body: BookChangeBody,
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    change = BookingChange(**body.book.sent_fields())
    booking = await booking_ops.update_booking(
        session, book_id, change, notes_max_length=settings.booking_notes_max_length
    )
    return JSONBody(book_json(booking))


class RescheduleFields(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"required": ["available_slot_id"]})

    available_slot_id: RequiredId = Field(
        default=None, le=MAX_ID, description="The slot to move to (same or another provider)"
    )
    hold_id: RequiredId = Field(
        default=None, le=MAX_ID, description="A hold on that slot (and patient) the move uses"
    )
    override_rules: RequiredFlag = Field(
        default=None,
        description="Move past the reschedule cutoff and the booking rules (recorded in the audit)",
    )


class RescheduleBody(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "required": ["book"],
            "example": {"book": {"available_slot_id": 790}},
        },
    )

    book: RescheduleFields = Field(default_factory=RescheduleFields)


@router.post(
    "/{book_id:int}/reschedule",
    response_model=BookOut,
    responses=error_responses(*AUTH_ERRORS, 404, 409, 422),
    summary="Reschedule a book to another slot",
    description="Moves an active booking to another open, future slot (same or another "
    "provider) in one step: the new seat is taken under every rule a new booking meets, then "
    "the old one is freed; if anything refuses, nothing changes (statuses and messages as "
    "`POST /books`). Inside the provider's reschedule cutoff it is 422 unless "
    "`override_rules`. The booking keeps its id; `rescheduled_from_slot_id` names the slot "
    "it left.",
)
async def reschedule_book(
    book_id: BookId, body: RescheduleBody, _admin: AdminDep, session: SessionDep
) -> Response:
    fields = body.book
    booking = await booking_ops.reschedule_booking(
        session,
        book_id,
        RescheduleInput(
            available_slot_id=fields.available_slot_id,
            hold_id=fields.hold_id,
            override_rules=fields.override_rules,
        ),
    )
    return JSONBody(book_json(booking))


@router.post(
    "/{book_id:int}/confirm",
    response_model=BookOut,
    responses=error_responses(*AUTH_ERRORS, 404, 409),
    summary="Confirm a booking request",
    description="`pending` becomes `confirmed`; the seat it kept is booked. Only while "
    'pending and not expired, else 409 `"Booking is no longer pending"`: of simultaneous '
    "confirms and declines exactly one wins.",
)
async def confirm_book(book_id: BookId, _admin: AdminDep, session: SessionDep) -> Response:
    return JSONBody(book_json(await confirm_booking(session, book_id)))


@router.post(
    "/{book_id:int}/decline",
    response_model=BookOut,
    responses=error_responses(*AUTH_ERRORS, 404, 409),
    summary="Decline a booking request",
    description="`pending` becomes `declined`; its seat is freed at once (and offered to the "
    'waitlist). Only while pending and not expired, else 409 `"Booking is no longer '
    'pending"`.',
)
async def decline_book(book_id: BookId, _admin: AdminDep, session: SessionDep) -> Response:
    return JSONBody(book_json(await decline_booking(session, book_id)))
