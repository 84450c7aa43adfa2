"""Provider available slots: the slot list grouped by provider, paginated by provider."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from common.deps import AdminDep, SessionDep, SettingsDep
from models.platform.errors import FieldErrors
from models.scheduling import slots as slot_ops
from models.scheduling.provider_slots import (
    DEFAULT_SLOTS_PER_PROVIDER,
    MAX_SLOTS_PER_PROVIDER,
    list_provider_slots,
)
from rest_compat.pagination import page_request, page_response
from rest_compat.render import provider_json, slot_json
from rest_compat.schemas import (
    AUTH_ERRORS,
    AppointmentTypeQuery,
    ProviderOut,
    SlotOut,
    error_responses,
)
from rest_compat.slots import DateParam, PageParam, PageSizeParam, ProviderParam

router = APIRouter(prefix="/providers/available_slots", tags=["Provider available slots"])


class ProviderSlotsOut(BaseModel):
    provider: ProviderOut
    available_slots: list[SlotOut]


@router.get(
    "",
    response_model=list[ProviderSlotsOut],
    responses=error_responses(*AUTH_ERRORS, 422),
    summary="List available slots grouped by provider",
    description="The filters of the slot list. Only providers with a matching slot appear, "
    "in id order; pagination (headers as for every list) counts providers. Each provider "
    "carries its first `slots_per_provider` matching slots in time order.",
)
async def list_provider_available_slots(
    request: Request,
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    page: PageParam = None,
    page_size: PageSizeParam = None,
    provider_id: ProviderParam = None,
    start_date: DateParam = None,
    end_date: DateParam = None,
    available: Annotated[bool | None, Query(description="Filter by availability")] = None,
    appointment_type: Annotated[
        AppointmentTypeQuery, Query(description="Slots of this type, and slots open to any type")
    ] = None,
    slots_per_provider: Annotated[
        int,
        Query(ge=1, le=MAX_SLOTS_PER_PROVIDER, description="Most slots listed per provider"),
    ] = DEFAULT_SLOTS_PER_PROVIDER,
) -> Response:
    errors = FieldErrors()
    paging = page_request(settings, page, page_size, errors)
    filters = await slot_ops.checked_slot_filters(
        session,
        errors,
        provider_id=provider_id,
        start_date=start_date,
        end_date=end_date,
        available=available,
        appointment_type=appointment_type,
        max_range_days=settings.max_query_range_days,
    )
    errors.raise_if_any()
    result = await list_provider_slots(
        session,
        filters,
        page=paging,
        zone=settings.clinic_zone,
        slots_per_provider=slots_per_provider,
    )
    body = [
        {
            "provider": provider_json(group.provider),
            "available_slots": [slot_json(slot) for slot in group.slots],
        }
        for group in result.items
    ]
    return page_response(request, result, body)
