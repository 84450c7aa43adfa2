"""Request and response models of the legacy routes, as the OpenAPI document shows them.

Request fields are loose on purpose (times as text, most fields optional): the domain
validates them and answers in the contract's error shape, field by field.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models.entities import MAX_ID

TIMESTAMP_EXAMPLE = "2030-10-27T14:00:00.000Z"


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


class SlotFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    provider_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    start_time: str | None = Field(default=None, examples=[TIMESTAMP_EXAMPLE])
    end_time: str | None = Field(default=None, examples=["2030-10-27T15:00:00.000Z"])
    appointment_type: str | None = Field(
        default=None,
        description="therapy, consultation, follow_up, assessment, group_therapy, "
        "medication_review",
    )
    available: bool | None = Field(
        default=None, description="false closes the slot; true lifts an admin's close only"
    )
    capacity: int | None = Field(
        default=None, description="Seats, 1 to 100 (default 1); every occurrence of a series"
    )
    recurring: bool | None = None
    recurrence_pattern: str | None = Field(
        default=None, description="daily, weekly, biweekly, monthly or custom"
    )
    recurrence_rule: str | None = Field(
        default=None, description="RFC 5545 RRULE, required for custom: FREQ=WEEKLY;BYDAY=MO,WE"
    )
    recurrence_end_date: str | None = Field(default=None, description="YYYY-MM-DD, inclusive")

    def sent_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class SlotBody(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "example": {
                "available_slot": {
                    "provider_id": 456,
                    "start_time": "2030-10-27T14:00:00.000Z",
                    "end_time": "2030-10-27T15:00:00.000Z",
                    "appointment_type": "therapy",
                    "recurring": True,
                    "recurrence_pattern": "weekly",
                }
            }
        },
    )

    available_slot: SlotFields = Field(default_factory=SlotFields)


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
