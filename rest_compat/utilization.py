"""Provider utilization over a range of clinic days."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from common.deps import AdminDep, SessionDep, SettingsDep
from models.booking.utilization import UtilizationNumbers, UtilizationReport, utilization
from rest_compat.responses import JSONBody
from rest_compat.schemas import AUTH_ERRORS, DATE_SCHEMA, MAX_ID, documented, error_responses

router = APIRouter(prefix="/providers", tags=["Utilization"])

# Required: left out, each is "can't be blank" (before the domain's own checks).
RequiredDateQuery = Annotated[str, documented(DATE_SCHEMA)]

NUMBERS_EXAMPLE: dict[str, Any] = {
    "total_slots": 10,
    "booked_slots": 6,
    "open_slots": 3,
    "blocked_slots": 1,
    "booked_minutes": 360,
    "open_minutes": 180,
    "utilization_rate": 0.6667,
    "booked_seats": 6,
    "open_seats": 3,
}


class NumbersOut(BaseModel):
    total_slots: int
    booked_slots: int
    open_slots: int
    blocked_slots: int
    booked_minutes: int
    open_minutes: int
    utilization_rate: float
    booked_seats: int = Field(description="Seats taken by active bookings")
    open_seats: int = Field(description="Free seats on open slots (group sessions have many)")


class ProviderNumbersOut(NumbersOut):
    provider_id: int
    first_name: str
    last_name: str


class UtilizationOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "start_date": "2030-10-21",
                "end_date": "2030-10-27",
                "time_zone": "UTC",
                "providers": [
                    {
                        "provider_id": 456,
                        "first_name": "Dr. Jane",
                        "last_name": "Smith",
                        **NUMBERS_EXAMPLE,
                    }
                ],
                "totals": NUMBERS_EXAMPLE,
            }
        }
    )

    start_date: str
    end_date: str
    time_zone: str
    providers: list[ProviderNumbersOut]
    totals: NumbersOut


def numbers_json(numbers: UtilizationNumbers) -> dict[str, Any]:
    return {
        "total_slots": numbers.total_slots,
        "booked_slots": numbers.booked_slots,
        "open_slots": numbers.open_slots,
        "blocked_slots": numbers.blocked_slots,
        "booked_minutes": numbers.booked_minutes,
        "open_minutes": numbers.open_minutes,
        "utilization_rate": numbers.utilization_rate,
        "booked_seats": numbers.booked_seats,
        "open_seats": numbers.open_seats,
    }


def report_json(report: UtilizationReport) -> dict[str, Any]:
    return {
        "start_date": report.start_date.isoformat(),
        "end_date": report.end_date.isoformat(),
        "time_zone": report.time_zone,
        "providers": [
            {
                "provider_id": row.provider_id,
                "first_name": row.first_name,
                "last_name": row.last_name,
                **numbers_json(row.numbers),
            }
            for row in report.providers
        ],
        "totals": numbers_json(report.totals),
    }


@router.get(
    "/utilization",
    response_model=UtilizationOut,
    responses=error_responses(*AUTH_ERRORS, 422),
    summary="Provider utilization over a date range",
    description="Slots whose start falls on the clinic days `start_date`..`end_date` "
    "(inclusive), per provider and in total. A slot is booked (active booking), open "
    "(available, unbooked) or blocked (unavailable without a booking). "
    "`utilization_rate` = booked_minutes / (booked_minutes + open_minutes), 0 when nothing "
    "is bookable. Without `provider_id`, providers without slots in the range are left out.",
)
async def provider_utilization(
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    start_date: Annotated[RequiredDateQuery, Query(description="YYYY-MM-DD")],
    end_date: Annotated[RequiredDateQuery, Query(description="YYYY-MM-DD, inclusive")],
    provider_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    report = await utilization(
        session,
        start_date=start_date,
        end_date=end_date,
        provider_id=provider_id,
        zone=settings.clinic_zone,
        max_range_days=settings.max_query_range_days,
    )
    return JSONBody(report_json(report))
