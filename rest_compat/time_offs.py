"""The time-off routes: a provider away closes their slots in the range."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from common.deps import AdminDep, SessionDep, SettingsDep
from common.strict_numbers import PathId, WholeNumber
from models.platform.entities import TimeOff
from models.platform.errors import FieldErrors
from models.platform.pagination import MAX_PAGE_SIZE
from models.platform.timeutil import format_timestamp
from models.scheduling import slots as slot_ops
from models.scheduling import time_offs as time_off_ops
from models.scheduling.time_offs import TimeOffFilters, TimeOffInput, TimeOffSlots
from rest_compat.pagination import page_request, page_response
from rest_compat.responses import JSONBody
from rest_compat.schemas import AUTH_ERRORS, MAX_ID, TIMESTAMP_EXAMPLE, error_responses

router = APIRouter(prefix="/time_offs", tags=["Time off"])

TIME_OFF_EXAMPLE: dict[str, Any] = {
    "id": 7,
    "provider_id": 456,
    "start_time": "2030-10-27T00:00:00.000Z",
    "end_time": "2030-10-29T00:00:00.000Z",
    "reason": "Vacation",
    "blocked_slot_ids": [789, 790],
    "booked_slot_ids": [791],
    "created_at": "2030-10-20T10:00:00.000Z",
    "updated_at": "2030-10-20T10:00:00.000Z",
}


class TimeOffOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": TIME_OFF_EXAMPLE})

    id: int
    provider_id: int
    start_time: str
    end_time: str
    reason: str | None = Field(description="Health-adjacent; never logged")
    blocked_slot_ids: list[int] = Field(description="Overlapped slots without an active booking")
    booked_slot_ids: list[int] = Field(
        description="Overlapped slots with an active booking, left for the admin to handle"
    )
    created_at: str
    updated_at: str


class TimeOffFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    provider_id: WholeNumber | None = Field(default=None, ge=1, le=MAX_ID)
    start_time: str | None = Field(default=None, examples=[TIMESTAMP_EXAMPLE])
    end_time: str | None = Field(default=None, examples=["2030-10-28T14:00:00.000Z"])
    reason: str | None = Field(default=None, description="At most 500 characters; never logged")


class TimeOffBody(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "example": {
                "time_off": {
                    "provider_id": 456,
                    "start_time": "2030-10-27T00:00:00.000Z",
                    "end_time": "2030-10-29T00:00:00.000Z",
                    "reason": "Vacation",
                }
            }
        },
    )

    time_off: TimeOffFields


TimeOffId = Annotated[PathId, Path(ge=1, le=MAX_ID, description="Time off id")]
DateParam = Annotated[
    str | None, Query(description="YYYY-MM-DD, a day in the clinic time zone (overlap)")
]


def time_off_json(time_off: TimeOff, slots: TimeOffSlots) -> dict[str, Any]:
    return {
        "id": time_off.id,
        "provider_id": time_off.provider_id,
        "start_time": format_timestamp(time_off.start_time),
        "end_time": format_timestamp(time_off.end_time),
        "reason": time_off.reason,
        "blocked_slot_ids": slots.blocked_slot_ids,
        "booked_slot_ids": slots.booked_slot_ids,
        "created_at": format_timestamp(time_off.created_at),
        "updated_at": format_timestamp(time_off.updated_at),
    }


@router.get(
    "",
    response_model=list[TimeOffOut],
    responses=error_responses(*AUTH_ERRORS, 422),
    summary="List time offs",
    description="In time order; `start_date` / `end_date` keep the time offs overlapping "
    "those days.",
)
async def list_time_offs(
    request: Request,
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    page: Annotated[int | None, Query(ge=1, le=1_000_000, description="From 1")] = None,
    page_size: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
    provider_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    start_date: DateParam = None,
    end_date: DateParam = None,
) -> Response:
    errors = FieldErrors()
    paging = page_request(settings, page, page_size, errors)
    start, end = slot_ops.check_filters(
        errors,
        start_date=start_date,
        end_date=end_date,
        max_range_days=settings.max_query_range_days,
    )
    errors.raise_if_any()
    filters = TimeOffFilters(provider_id=provider_id, start_date=start, end_date=end)
    result = await time_off_ops.list_time_offs(
        session, filters, page=paging, zone=settings.clinic_zone
    )
    slots = await time_off_ops.slots_of(session, result.items)
    items = [time_off_json(item, slots[item.id]) for item in result.items]
    return page_response(request, result, items)


@router.post(
    "",
    status_code=201,
    response_model=TimeOffOut,
    responses=error_responses(*AUTH_ERRORS, 422),
    summary="Create a time off",
    description="Closes every slot of the provider overlapping the range for new bookings "
    "and holds. Booked slots are listed in `booked_slot_ids` and left as they are.",
)
async def create_time_off(body: TimeOffBody, _admin: AdminDep, session: SessionDep) -> Response:
    fields = body.time_off
    data = TimeOffInput(
        provider_id=fields.provider_id,
        start_time=fields.start_time,
        end_time=fields.end_time,
        reason=fields.reason,
    )
    time_off, slots = await time_off_ops.create_time_off(session, data)
    return JSONBody(time_off_json(time_off, slots), status_code=201)


@router.get(
    "/{time_off_id}",
    response_model=TimeOffOut,
    responses=error_responses(*AUTH_ERRORS, 404),
    summary="Get a time off",
)
async def get_time_off(time_off_id: TimeOffId, _admin: AdminDep, session: SessionDep) -> Response:
    time_off = await time_off_ops.get_time_off(session, time_off_id)
    slots = await time_off_ops.slots_of(session, [time_off])
    return JSONBody(time_off_json(time_off, slots[time_off.id]))


@router.delete(
    "/{time_off_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(*AUTH_ERRORS, 404),
    summary="Delete a time off",
    description="Lifts this cause only: a slot reopens unless another cause still closes it. "
    "Series occurrences it skipped are created where they fit.",
)
async def delete_time_off(
    time_off_id: TimeOffId, _admin: AdminDep, session: SessionDep
) -> Response:
    await time_off_ops.delete_time_off(session, time_off_id)
    return Response(status_code=204)
