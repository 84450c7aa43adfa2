"""Find a time: the earliest options for an appointment type across providers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from common.deps import AdminDep, SessionDep, SettingsDep
from models.booking import find as ops
from models.platform.entities import APPOINTMENT_MODES
from rest_compat.render import slot_json
from rest_compat.responses import JSONBody
from rest_compat.schemas import (
    AUTH_ERRORS,
    MAX_ID,
    AppointmentTypeQuery,
    DateQuery,
    SlotOut,
    error_responses,
)

router = APIRouter(prefix="/find", tags=["Find a time"])


class UnavailableProviderOut(BaseModel):
    provider_id: int
    ruled_out: str | None = Field(
        description="Why the provider as a whole has no option: "
        + ", ".join(ops.PROVIDER_CAUSES)
        + "; null: see slot_counts"
    )
    slot_counts: dict[str, int] = Field(
        description="The provider's slots in range by the first cause ruling each out, in "
        "this order: " + ", ".join(ops.SLOT_CAUSES)
    )


class FindOut(BaseModel):
    options: list[SlotOut] = Field(description="In start order, ties by provider id")
    unavailable_providers: list[UnavailableProviderOut] | None = Field(
        default=None, description="Only with explain=true"
    )


def unavailable_json(item: ops.UnavailableProvider) -> dict[str, Any]:
    return {
        "provider_id": item.provider_id,
        "ruled_out": item.ruled_out,
        "slot_counts": item.slot_counts,
    }


@router.get(
    "",
    response_model=FindOut,
    response_model_exclude_none=True,
    responses=error_responses(*AUTH_ERRORS, 422),
    summary="Find the earliest options for an appointment type",
    description="Slots a patient could take now, every booking rule applied, across the "
    f"providers who offer the type; a range of at most {ops.MAX_RANGE_DAYS} days. "
    "`spread=true` gives each provider's first option before anyone's second; "
    "`explain=true` adds why each provider without an option has none.",
)
async def find_availability(
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    appointment_type: Annotated[AppointmentTypeQuery, Query(description="A type's key")] = None,
    start_date: Annotated[DateQuery, Query(description="First day, clinic time zone")] = None,
    end_date: Annotated[DateQuery, Query(description="Last day, clinic time zone")] = None,
    provider_ids: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None,
        Query(description="Only these providers (repeat the parameter)"),
    ] = None,
    licensed_state: Annotated[
        str | None, Query(description="Two-letter US state or territory code")
    ] = None,
    language: Annotated[
        str | None, Query(description="BCP 47 tag; matches on the primary subtag")
    ] = None,
    mode: Annotated[str | None, Query(description=" | ".join(APPOINTMENT_MODES))] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=ops.MAX_LIMIT, description="Options wanted (default 10)")
    ] = None,
    spread: Annotated[bool, Query(description="One option per provider first")] = False,
    explain: Annotated[bool, Query(description="Add unavailable_providers")] = False,
) -> Response:
    request = await ops.check_find(
        session,
        appointment_type=appointment_type,
        start_date=start_date,
        end_date=end_date,
        provider_ids=provider_ids,
        licensed_state=licensed_state,
        language=language,
        mode=mode,
        limit=limit,
        spread=spread,
        explain=explain,
    )
    result = await ops.find_availability(session, request, zone=settings.clinic_zone)
    body: dict[str, Any] = {"options": [slot_json(row) for row in result.options]}
    if result.unavailable_providers is not None:
        body["unavailable_providers"] = [
            unavailable_json(item) for item in result.unavailable_providers
        ]
    return JSONBody(body)
