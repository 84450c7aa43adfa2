"""The hold routes: keep a seat for a few minutes, list, read and release holds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from common.deps import AdminDep, SessionDep, SettingsDep
from common.strict_numbers import PathId, WholeNumber
from models.booking import holds as hold_ops
from models.booking.holds import HoldFilters, HoldInput, status_at
from models.platform.entities import Hold
from models.platform.errors import FieldErrors
from models.platform.pagination import MAX_PAGE_SIZE
from models.platform.timeutil import format_timestamp, now_utc
from rest_compat.pagination import page_request, page_response
from rest_compat.responses import JSONBody
from rest_compat.schemas import AUTH_ERRORS, MAX_ID, error_responses

router = APIRouter(prefix="/holds", tags=["Holds"])

STATUS_DESCRIPTION = "held, released, expired or booked"
HOLD_EXAMPLE: dict[str, Any] = {
    "id": 42,
    "available_slot_id": 789,
    "patient_id": 1049,
    "status": "held",
    "expires_at": "2030-10-27T12:05:00.000Z",
    "created_at": "2030-10-27T12:00:00.000Z",
    "updated_at": "2030-10-27T12:00:00.000Z",
    "resource_id": None,
}


class HoldOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": HOLD_EXAMPLE})

    id: int
    available_slot_id: int
    patient_id: int | None
    status: str = Field(description=STATUS_DESCRIPTION)
    expires_at: str
    created_at: str
    updated_at: str
    resource_id: int | None = Field(
        default=None,
        description="The resource (a room) the hold's slot took for it; null: none needed",
    )


class HoldFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    available_slot_id: WholeNumber | None = Field(default=None, le=MAX_ID)
    patient_id: WholeNumber | None = Field(default=None, le=MAX_ID, description="Optional")
    duration_seconds: WholeNumber | None = Field(
        default=None, description="30 to 3600 (default 300)"
    )


class HoldBody(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "example": {
                "hold": {"available_slot_id": 789, "patient_id": 1049, "duration_seconds": 300}
            }
        },
    )

    hold: HoldFields


HoldId = Annotated[PathId, Path(ge=1, le=MAX_ID, description="Hold id")]
IdParam = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def hold_json(hold: Hold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "available_slot_id": hold.available_slot_id,
        "patient_id": hold.patient_id,
        "status": status_at(hold, now_utc()).value,
        "expires_at": format_timestamp(hold.expires_at),
        "created_at": format_timestamp(hold.created_at),
        "updated_at": format_timestamp(hold.updated_at),
        "resource_id": hold.resource_id,
    }


@router.get(
    "",
    response_model=list[HoldOut],
    responses=error_responses(*AUTH_ERRORS, 422),
    summary="List holds",
    description="Newest first. A hold still held past `expires_at` is `expired`.",
)
async def list_holds(
    request: Request,
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    page: Annotated[int | None, Query(ge=1, le=1_000_000, description="From 1")] = None,
    page_size: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
    available_slot_id: IdParam = None,
    patient_id: IdParam = None,
    status: Annotated[str | None, Query(description=STATUS_DESCRIPTION)] = None,
) -> Response:
    errors = FieldErrors()
    paging = page_request(settings, page, page_size, errors)
    parsed = hold_ops.check_status(errors, status)
    errors.raise_if_any()
    filters = HoldFilters(available_slot_id=available_slot_id, patient_id=patient_id, status=parsed)
    result = await hold_ops.list_holds(session, filters, page=paging)
    return page_response(request, result, [hold_json(hold) for hold in result.items])


@router.post(
    "",
    status_code=201,
    response_model=HoldOut,
    responses=error_responses(*AUTH_ERRORS, 409, 422),
    summary="Hold a seat",
    description="Keeps a seat of the slot until `expires_at`, release, or a booking with "
    '`hold_id`. No free seat is 409 `"Slot is not available"`.',
)
async def create_hold(body: HoldBody, _admin: AdminDep, session: SessionDep) -> Response:
    fields = body.hold
    data = HoldInput(
        available_slot_id=fields.available_slot_id,
        patient_id=fields.patient_id,
        duration_seconds=fields.duration_seconds,
    )
    hold = await hold_ops.create_hold(session, data)
    return JSONBody(hold_json(hold), status_code=201)


@router.get(
    "/{hold_id}",
    response_model=HoldOut,
    responses=error_responses(*AUTH_ERRORS, 404),
    summary="Get a hold",
)
async def get_hold(hold_id: HoldId, _admin: AdminDep, session: SessionDep) -> Response:
    return JSONBody(hold_json(await hold_ops.get_hold(session, hold_id)))


@router.delete(
    "/{hold_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(*AUTH_ERRORS, 404, 409),
    summary="Release a hold",
    description="Frees the seat. A released or expired hold is 204 too; one that became a "
    "booking is 409.",
)
async def release_hold(hold_id: HoldId, _admin: AdminDep, session: SessionDep) -> Response:
    await hold_ops.release_hold(session, hold_id)
    return Response(status_code=204)
