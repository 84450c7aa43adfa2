"""The waitlist routes: patients waiting for a seat, offered one through a hold when it opens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from common.deps import AdminDep, SessionDep, SettingsDep
from common.strict_numbers import PathId, WholeNumber
from models.booking import waitlist as waitlist_ops
from models.booking.waitlist import WaitlistFilters, WaitlistInput
from models.platform.entities import WaitlistEntry
from models.platform.errors import FieldErrors
from models.platform.pagination import MAX_PAGE_SIZE
from models.platform.timeutil import format_timestamp
from rest_compat.pagination import page_request, page_response
from rest_compat.responses import JSONBody
from rest_compat.schemas import (
    AUTH_ERRORS,
    MAX_ID,
    OptionalAppointmentType,
    OptionalDate,
    error_responses,
)

router = APIRouter(prefix="/waitlist_entries", tags=["Waitlist"])

STATUS_DESCRIPTION = "waiting, offered, fulfilled, lapsed or cancelled"
ENTRY_EXAMPLE: dict[str, Any] = {
    "id": 7,
    "patient_id": 1049,
    "provider_id": 2,
    "appointment_type": "therapy",
    "start_date": "2030-10-27",
    "end_date": "2030-11-03",
    "offer_seconds": 900,
    "status": "offered",
    "hold_id": 42,
    "offered_slot_id": 789,
    "offer_count": 1,
    "created_at": "2030-10-20T12:00:00.000Z",
    "updated_at": "2030-10-27T09:00:00.000Z",
}


class WaitlistEntryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": ENTRY_EXAMPLE})

    id: int
    patient_id: int
    provider_id: int | None = Field(description="null: any provider")
    appointment_type: str | None = Field(description="null: any type")
    start_date: str
    end_date: str = Field(description="Inclusive; clinic days")
    offer_seconds: int = Field(description="How long an offered hold lasts")
    status: str = Field(description=STATUS_DESCRIPTION)
    hold_id: int | None = Field(description="The latest offer's hold (book with it)")
    offered_slot_id: int | None = Field(description="The latest offer's slot")
    offer_count: int = Field(description="Offers made to this entry")
    created_at: str
    updated_at: str


class WaitlistFields(BaseModel):
    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"required": ["patient_id", "start_date", "end_date"]}
    )

    patient_id: WholeNumber | None = Field(default=None, le=MAX_ID)
    provider_id: WholeNumber | None = Field(default=None, le=MAX_ID, description="Any if null")
    appointment_type: OptionalAppointmentType = Field(default=None, description="Any if null")
    start_date: OptionalDate = Field(default=None, description="YYYY-MM-DD, a clinic day")
    end_date: OptionalDate = Field(
        default=None, description="YYYY-MM-DD, inclusive, at most 366 days on"
    )
    offer_seconds: WholeNumber | None = Field(
        default=None, description="60 to 86400 (default 900): how long an offer is held"
    )


class WaitlistBody(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "required": ["waitlist_entry"],
            "example": {
                "waitlist_entry": {
                    "patient_id": 1049,
                    "provider_id": 2,
                    "start_date": "2030-10-27",
                    "end_date": "2030-11-03",
                }
            },
        },
    )

    waitlist_entry: WaitlistFields


EntryId = Annotated[PathId, Path(ge=1, le=MAX_ID, description="Waitlist entry id")]
IdParam = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def entry_json(entry: WaitlistEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "patient_id": entry.patient_id,
        "provider_id": entry.provider_id,
        "appointment_type": entry.appointment_type,
        "start_date": entry.start_date.isoformat(),
        "end_date": entry.end_date.isoformat(),
        "offer_seconds": entry.offer_seconds,
        "status": entry.status.value,
        "hold_id": entry.hold_id,
        "offered_slot_id": entry.offered_slot_id,
        "offer_count": entry.offer_count,
        "created_at": format_timestamp(entry.created_at),
        "updated_at": format_timestamp(entry.updated_at),
    }


@router.get(
    "",
    response_model=list[WaitlistEntryOut],
    responses=error_responses(*AUTH_ERRORS, 422),
    summary="List waitlist entries",
    description="In queue order: first come first.",
)
async def list_entries(
    request: Request,
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    page: Annotated[int | None, Query(ge=1, le=1_000_000, description="From 1")] = None,
    page_size: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
    patient_id: IdParam = None,
    provider_id: IdParam = None,
    status: Annotated[str | None, Query(description=STATUS_DESCRIPTION)] = None,
) -> Response:
    errors = FieldErrors()
    paging = page_request(settings, page, page_size, errors)
    parsed = waitlist_ops.check_status(errors, status)
    errors.raise_if_any()
    filters = WaitlistFilters(patient_id=patient_id, provider_id=provider_id, status=parsed)
    result = await waitlist_ops.list_entries(session, filters, page=paging)
    return page_response(request, result, [entry_json(entry) for entry in result.items])


@router.post(
    "",
    status_code=201,
    response_model=WaitlistEntryOut,
    responses=error_responses(*AUTH_ERRORS, 422),
    summary="Put a patient on the waitlist",
    description="When a matching seat opens (a cancellation, a declined or expired request, "
    "a reschedule away, a released or expired hold, more seats, a time off lifted, a new "
    "slot), the earliest waiting entry whose patient holds no other offer gets a hold on it "
    "for `offer_seconds` and becomes `offered` (event `waitlist.offered`). Booking with "
    "that `hold_id` fulfils the entry; an offer not taken lapses and passes on. Seats "
    "already open are not offered: book them directly.",
)
async def create_entry(
    body: WaitlistBody, _admin: AdminDep, session: SessionDep, settings: SettingsDep
) -> Response:
    fields = body.waitlist_entry
    data = WaitlistInput(
        patient_id=fields.patient_id,
        provider_id=fields.provider_id,
        appointment_type=fields.appointment_type,
        start_date=fields.start_date,
        end_date=fields.end_date,
        offer_seconds=fields.offer_seconds,
    )
    entry = await waitlist_ops.create_entry(session, data, zone=settings.clinic_zone)
    return JSONBody(entry_json(entry), status_code=201)


@router.get(
    "/{entry_id}",
    response_model=WaitlistEntryOut,
    responses=error_responses(*AUTH_ERRORS, 404),
    summary="Get a waitlist entry",
)
async def get_entry(entry_id: EntryId, _admin: AdminDep, session: SessionDep) -> Response:
    return JSONBody(entry_json(await waitlist_ops.get_entry(session, entry_id)))


@router.delete(
    "/{entry_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(*AUTH_ERRORS, 404),
    summary="Take a patient off the waitlist",
    description="The entry becomes `cancelled`; an offer it holds is released and passes to "
    "the next matching entry. Cancelling an ended entry changes nothing.",
)
async def delete_entry(entry_id: EntryId, _admin: AdminDep, session: SessionDep) -> Response:
    await waitlist_ops.cancel_entry(session, entry_id)
    return Response(status_code=204)
