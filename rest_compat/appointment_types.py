"""The appointment type catalog: list, get, create, update (``active: false`` retires one)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from common.deps import AdminDep, SessionDep
from common.strict_numbers import PathId
from models.platform.entities import APPOINTMENT_MODES, AppointmentType
from models.platform.timeutil import format_timestamp
from models.scheduling import appointment_types as ops
from rest_compat.responses import JSONBody
from rest_compat.schemas import AUTH_ERRORS, MAX_ID, error_responses

router = APIRouter(prefix="/appointment_types", tags=["Appointment types"])

TypeId = Annotated[PathId, Path(ge=1, le=MAX_ID, description="Appointment type id")]
MODES_DESCRIPTION = "Any of " + ", ".join(APPOINTMENT_MODES)
TYPE_EXAMPLE: dict[str, Any] = {
    "id": 7,
    "key": "intake",
    "name": "Intake",
    "duration_minutes": 50,
    "buffer_before_minutes": None,
    "buffer_after_minutes": 10,
    "cancellation_cutoff_minutes": 1440,
    "reschedule_cutoff_minutes": None,
    "modes": ["video", "in_person"],
    "active": True,
    "created_at": "2030-10-20T10:00:00.000Z",
    "updated_at": "2030-10-20T10:00:00.000Z",
}


class AppointmentTypeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": TYPE_EXAMPLE})

    id: int
    key: str = Field(description="What every appointment_type field carries")
    name: str
    duration_minutes: int = Field(description="How long an appointment of the type lasts")
    buffer_before_minutes: int | None = Field(
        description="Overrides the provider's buffer before, for this type; null: the provider's"
    )
    buffer_after_minutes: int | None = Field(
        description="Overrides the provider's buffer after, for this type; null: the provider's"
    )
    cancellation_cutoff_minutes: int | None = Field(
        description="Overrides the provider's cancellation cutoff for bookings of this type; "
        "null: the provider's"
    )
    reschedule_cutoff_minutes: int | None = Field(
        description="Overrides the provider's reschedule cutoff for bookings of this type; "
        "null: the provider's"
    )
    modes: list[str] = Field(description=MODES_DESCRIPTION)
    active: bool = Field(description="A retired type (false) is refused in appointment_type")
    created_at: str
    updated_at: str


class AppointmentTypeFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: Any = Field(default=None, description="a-z, digits, _; at most 40; fixed once created")
    name: Any = Field(default=None, description="At most 100 characters")
    duration_minutes: Any = Field(default=None, description="1 to 1440")
    buffer_before_minutes: Any = Field(default=None, description="0 to 1440, or null")
    buffer_after_minutes: Any = Field(default=None, description="0 to 1440, or null")
    cancellation_cutoff_minutes: Any = Field(
        default=None, description="0 to 525600, or null (the provider's cutoff)"
    )
    reschedule_cutoff_minutes: Any = Field(
        default=None, description="0 to 525600, or null (the provider's cutoff)"
    )
    modes: Any = Field(default=None, description=MODES_DESCRIPTION + "; default: all")
    active: Any = Field(default=None, description="false retires the type")

    def sent_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class AppointmentTypeBody(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "example": {
                "appointment_type": {
                    "key": "intake",
                    "name": "Intake",
                    "duration_minutes": 50,
                    "modes": ["video", "in_person"],
                }
            }
        },
    )

    appointment_type: AppointmentTypeFields = Field(default_factory=AppointmentTypeFields)


def appointment_type_json(row: AppointmentType) -> dict[str, Any]:
    return {
        "id": row.id,
        "key": row.key,
        "name": row.name,
        "duration_minutes": row.duration_minutes,
        "buffer_before_minutes": row.buffer_before_minutes,
        "buffer_after_minutes": row.buffer_after_minutes,
        "cancellation_cutoff_minutes": row.cancellation_cutoff_minutes,
        "reschedule_cutoff_minutes": row.reschedule_cutoff_minutes,
        "modes": list(row.modes),
        "active": row.active,
        "created_at": format_timestamp(row.created_at),
        "updated_at": format_timestamp(row.updated_at),
    }


@router.get(
    "",
    response_model=list[AppointmentTypeOut],
    responses=error_responses(*AUTH_ERRORS),
    summary="List appointment types",
    description="In id order; `active` filters.",
)
async def list_appointment_types(
    _admin: AdminDep,
    session: SessionDep,
    active: Annotated[bool | None, Query(description="Only active (true) or retired")] = None,
) -> Response:
    rows = await ops.list_types(session, active=active)
    return JSONBody([appointment_type_json(row) for row in rows])


@router.post(
    "",
    status_code=201,
    response_model=AppointmentTypeOut,
    responses=error_responses(*AUTH_ERRORS, 422),
    summary="Create an appointment type",
    description="Its key is accepted in every appointment_type field from then on.",
)
async def create_appointment_type(
    body: AppointmentTypeBody, _admin: AdminDep, session: SessionDep
) -> Response:
    row = await ops.create_type(session, body.appointment_type.sent_fields())
    return JSONBody(appointment_type_json(row), status_code=201)


@router.get(
    "/{type_id}",
    response_model=AppointmentTypeOut,
    responses=error_responses(*AUTH_ERRORS, 404),
    summary="Get an appointment type",
)
async def get_appointment_type(type_id: TypeId, _admin: AdminDep, session: SessionDep) -> Response:
    return JSONBody(appointment_type_json(await ops.get_type(session, type_id)))


@router.put(
    "/{type_id}",
    response_model=AppointmentTypeOut,
    responses=error_responses(*AUTH_ERRORS, 404, 422),
    summary="Update an appointment type",
    description="Only the fields sent change; `active: false` retires the type (there is "
    "no delete: slots and bookings keep its key).",
)
async def update_appointment_type(
    type_id: TypeId, body: AppointmentTypeBody, _admin: AdminDep, session: SessionDep
) -> Response:
    row = await ops.update_type(session, type_id, body.appointment_type.sent_fields())
    return JSONBody(appointment_type_json(row))
