"""Request and response models of the legacy routes, as the OpenAPI document shows them.

Request fields are loose on purpose (times as text, most fields optional): the domain
validates them and answers in the contract's error shape, field by field. What the
document shows is what the domain accepts: the ``Documented`` types below. A field the
document shows as nullable is cleared by ``null``; ``null`` on any other is
``can't be blank``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, WithJsonSchema

from models.platform.entities import APPOINTMENT_TYPES, MAX_ID, RECURRENCE_PATTERNS, BookingStatus
from models.scheduling.series_changes import Scope

TIMESTAMP_EXAMPLE = "2030-10-27T14:00:00.000Z"

ID_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
DATE_SCHEMA: dict[str, Any] = {"type": "string", "format": "date"}
# Any active type's key (the catalog at /appointment_types); it starts with the legacy six.
APPOINTMENT_TYPE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": "^[a-z][a-z0-9_]{0,39}$",
    "examples": list(APPOINTMENT_TYPES),
}
RECURRENCE_PATTERN_SCHEMA: dict[str, Any] = {"type": "string", "enum": list(RECURRENCE_PATTERNS)}
STATUS_SCHEMA: dict[str, Any] = {
    "type": "string",
    "enum": [status.value for status in BookingStatus],
}
SCOPE_SCHEMA: dict[str, Any] = {"type": "string", "enum": [scope.value for scope in Scope]}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def documented(schema: dict[str, Any]) -> WithJsonSchema:
    """The schema the document shows for a loosely typed field or parameter."""
    return WithJsonSchema(schema)


# Fields whose null is "can't be blank" (the value may not be left out of the record).
# Strict: "5" or 0 is no id and no flag, as the document says.
RequiredId = Annotated[StrictInt | None, documented(ID_SCHEMA)]
RequiredText = Annotated[str | None, documented({"type": "string"})]
RequiredFlag = Annotated[StrictBool | None, documented({"type": "boolean"})]
Capacity = Annotated[
    StrictInt | None, documented({"type": "integer", "minimum": 1, "maximum": 100})
]
# Fields that null clears.
OptionalText = Annotated[str | None, documented(nullable({"type": "string"}))]
OptionalDate = Annotated[str | None, documented(nullable(DATE_SCHEMA))]
OptionalAppointmentType = Annotated[str | None, documented(nullable(APPOINTMENT_TYPE_SCHEMA))]
OptionalPattern = Annotated[str | None, documented(nullable(RECURRENCE_PATTERN_SCHEMA))]
# Query parameters: absent or a value (a query string has no null).
DateQuery = Annotated[str | None, documented(DATE_SCHEMA)]
AppointmentTypeQuery = Annotated[str | None, documented(APPOINTMENT_TYPE_SCHEMA)]
StatusQuery = Annotated[str | None, documented(STATUS_SCHEMA)]
ScopeQuery = Annotated[str | None, documented(SCOPE_SCHEMA)]


class ProviderOut(BaseModel):
    id: int
    first_name: str
    last_name: str


class SlotOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": 789,
                "provider_id": 456,
                "start_time": "2023-10-27T14:00:00.000Z",
                "end_time": "2023-10-27T15:00:00.000Z",
                "appointment_type": "therapy",
                "available": True,
                "recurring": True,
                "recurrence_pattern": "weekly",
                "created_at": "2023-10-20T10:00:00.000Z",
                "updated_at": "2023-10-20T10:00:00.000Z",
                "provider": {"id": 456, "first_name": "Dr. Jane", "last_name": "Smith"},
                "capacity": 1,
                "booked_count": 0,
                "resource_kind": "room",
                "resource_id": 3,
            }
        }
    )

    id: int
    provider_id: int
    start_time: str = Field(description="UTC, milliseconds: 2023-10-27T14:00:00.000Z")
    end_time: str
    appointment_type: str | None
    available: bool
    recurring: bool
    recurrence_pattern: str | None
    created_at: str
    updated_at: str
    provider: ProviderOut
    capacity: int = Field(description="Seats: bookings the slot takes (group sessions: more)")
    booked_count: int = Field(description="Seats taken by active bookings")
    resource_kind: str | None = Field(
        default=None, description="The kind of resource (a room) the slot needs; null: none"
    )
    resource_id: int | None = Field(
        default=None,
        description="The resource the slot keeps while a hold or an active booking takes a "
        "seat; null: none yet",
    )


class IntervalOut(BaseModel):
    id: int
    start_time: str
    end_time: str


class KeptSlotOut(IntervalOut):
    errors: str = Field(description="Why the occurrence was left as it was")


class ScopedUpdateOut(BaseModel):
    scope: str = Field(description="following or series")
    series_id: int | None
    updated_slots: int
    slot_ids: list[int]
    kept_slots: list[KeptSlotOut]
    available_slot: SlotOut


class ScopedDeleteOut(BaseModel):
    scope: str = Field(description="following or series")
    series_id: int | None
    deleted_slots: int
    slot_ids: list[int]
    kept_slots: list[KeptSlotOut]


class PlannedSlotOut(BaseModel):
    provider_id: int
    start_time: str
    end_time: str
    appointment_type: str | None
    available: bool
    recurring: bool
    recurrence_pattern: str | None


class ClashOut(PlannedSlotOut):
    conflicts: list[IntervalOut]


class CreationPreviewOut(BaseModel):
    dry_run: bool
    would_create: list[PlannedSlotOut]
    would_clash: list[ClashOut]
    conflicts: list[IntervalOut]


class SlotFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    provider_id: RequiredId = Field(default=None, ge=1, le=MAX_ID)
    start_time: RequiredText = Field(default=None, examples=[TIMESTAMP_EXAMPLE])
    end_time: RequiredText = Field(default=None, examples=["2030-10-27T15:00:00.000Z"])
    appointment_type: OptionalAppointmentType = Field(
        default=None, description="Any type when null or left out"
    )
    available: RequiredFlag = Field(
        default=None,
        description="false closes the slot; true lifts an admin's close only (default true)",
    )
    capacity: Capacity = Field(
        default=None, description="Seats, 1 to 100 (default 1); every occurrence of a series"
    )
    recurring: RequiredFlag = Field(default=None, description="Defaults to false")
    recurrence_pattern: OptionalPattern = Field(default=None, description="Required when recurring")
    recurrence_rule: OptionalText = Field(
        default=None, description="RFC 5545 RRULE, required for custom: FREQ=WEEKLY;BYDAY=MO,WE"
    )
    recurrence_end_date: OptionalDate = Field(default=None, description="Inclusive")
    resource_kind: OptionalText = Field(
        default=None,
        description="The kind of an active resource (/resources) the slot needs; null: none",
    )

    def sent_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class NewSlotFields(SlotFields):
    # Left out, these are "can't be blank": the document says they are required.
    model_config = ConfigDict(
        json_schema_extra={"required": ["provider_id", "start_time", "end_time"]}
    )


class SlotBody(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "required": ["available_slot"],
            "example": {
                "available_slot": {
                    "provider_id": 456,
                    "start_time": "2030-10-27T14:00:00.000Z",
                    "end_time": "2030-10-27T15:00:00.000Z",
                    "appointment_type": "therapy",
                    "recurring": True,
                    "recurrence_pattern": "weekly",
                }
            },
        },
    )

    available_slot: NewSlotFields


class SlotChangeBody(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"example": {"available_slot": {"appointment_type": "consultation"}}},
    )

    # An update without its root key is a 422, not an update that changes nothing.
    available_slot: SlotFields


class ErrorMessage(BaseModel):
    errors: str


class FieldErrorsOut(BaseModel):
    errors: dict[str, list[str]]


class ConflictOut(BaseModel):
    errors: str
    conflicts: list[dict[str, Any]] | None = None


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI descriptions of the contract's error bodies for the given statuses."""
    table: dict[int, tuple[type[BaseModel], str, Any]] = {
        401: (ErrorMessage, "No, unknown, expired or revoked token", "Authentication required"),
        403: (ErrorMessage, "The token's user is not an admin", "Admin access required"),
        404: (ErrorMessage, "Unknown record", "Not found"),
        409: (
            ConflictOut,
            "Overlapping slot, or slot not available",
            "Time slot conflicts with existing availability",
        ),
        422: (
            FieldErrorsOut,
            "Field validation failed",
            {"start_time": ["can't be blank", "must be in the future"]},
        ),
        500: (ErrorMessage, "Unexpected failure", "Internal server error"),
        503: (
            ErrorMessage,
            "Database unavailable; retry after Retry-After",
            "Service temporarily unavailable",
        ),
    }
    return {
        status: {
            "model": table[status][0],
            "description": table[status][1],
            "content": {"application/json": {"example": {"errors": table[status][2]}}},
        }
        for status in statuses
    }


AUTH_ERRORS = (401, 403)
