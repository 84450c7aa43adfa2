"""GraphQL object types over the domain rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition

from models.entities import AvailableSlot as SlotRow
from models.entities import Patient as PatientRow
from models.entities import Provider as ProviderRow
from models.timeutil import format_timestamp, parse_timestamp


def _serialize_instant(value: datetime) -> str:
    return format_timestamp(value if value.tzinfo is not None else value.replace(tzinfo=UTC))


def _parse_instant(value: Any) -> datetime:
    parsed = parse_timestamp(value) if isinstance(value, str) else None
    if parsed is None:
        raise StrawberryInputCoercionError(
            f"Value cannot represent a DateTime: {value!r}. "
            "Expected ISO 8601 with an offset or Z, like 2023-10-27T14:00:00.000Z."
        )
    return parsed


# Instants are written as in REST (UTC, milliseconds, Z), so both faces agree.
UTC_DATETIME = strawberry.scalar(
    name="DateTime",
    description="An instant: 2023-10-27T14:00:00.000Z on output; any ISO 8601 date-time "
    "with an offset or Z on input (a time without one is read as UTC).",
    serialize=_serialize_instant,
    parse_value=_parse_instant,
)
SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {datetime: UTC_DATETIME}


@strawberry.type(description="What a patient may book of a provider; null: no such rule.")
class BookingRules:
    minimum_notice_minutes: int | None = strawberry.field(
        description="No booking starting sooner than this."
    )
    booking_window_days: int | None = strawberry.field(
        description="No booking starting this many days ahead or later."
    )
    buffer_before_minutes: int | None = strawberry.field(
        description="Kept free before each booked appointment."
    )
    buffer_after_minutes: int | None = strawberry.field(
        description="Kept free after each booked appointment."
    )
    max_bookings_per_day: int | None = strawberry.field(
        description="Bookings (one per seat) per day in the provider's time zone."
    )

    @classmethod
    def of(cls, source: Any, prefix: str = "") -> BookingRules:
        """From a provider, or from a slot row's flat ``provider_*`` columns."""
        return cls(
            minimum_notice_minutes=getattr(source, f"{prefix}minimum_notice_minutes"),
            booking_window_days=getattr(source, f"{prefix}booking_window_days"),
            buffer_before_minutes=getattr(source, f"{prefix}buffer_before_minutes"),
            buffer_after_minutes=getattr(source, f"{prefix}buffer_after_minutes"),
            max_bookings_per_day=getattr(source, f"{prefix}max_bookings_per_day"),
        )


@strawberry.type
class Provider:
    id: int
    first_name: str
    last_name: str
    time_zone: str
    active: bool
    booking_rules: BookingRules

    @classmethod
    def from_row(cls, row: ProviderRow | Any) -> Provider:
        return cls(
            id=row.id,
            first_name=row.first_name,
            last_name=row.last_name,
            time_zone=row.time_zone,
            active=row.active,
            booking_rules=BookingRules.of(row),
        )


@strawberry.type
class Patient:
    id: int
    first_name: str
    last_name: str
    active: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: PatientRow) -> Patient:
        return cls(
            id=row.id,
            first_name=row.first_name,
            last_name=row.last_name,
            active=row.active,
            created_at=row.created_at,
        )


@strawberry.type
class AvailableSlot:
    id: int
    provider_id: int
    start_time: datetime
    end_time: datetime
    duration_minutes: int
    appointment_type: str | None
    available: bool
    recurring: bool
    recurrence_pattern: str | None
    recurrence_rule: str | None
    series_id: int | None
    created_at: datetime
    updated_at: datetime
    provider: Provider
    capacity: int = strawberry.field(description="Seats: bookings the slot takes.")
    booked_count: int = strawberry.field(description="Seats taken by active bookings.")

    @classmethod
    def from_row(cls, row: SlotRow | Any) -> AvailableSlot:
        """From a slot read row (``models.slots.SLOT_COLUMNS``) or an entity with its provider."""
        return cls(
            id=row.id,
            provider_id=row.provider_id,
            start_time=row.start_time,
            end_time=row.end_time,
            duration_minutes=row.duration_minutes,
            appointment_type=row.appointment_type,
            available=row.available,
            recurring=row.recurring,
            recurrence_pattern=row.recurrence_pattern,
            recurrence_rule=row.recurrence_rule,
            series_id=row.series_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            provider=Provider(
                id=row.provider_id,
                first_name=row.provider_first_name,
                last_name=row.provider_last_name,
                time_zone=row.provider_time_zone,
                active=row.provider_active,
                booking_rules=BookingRules.of(row, prefix="provider_"),
            ),
            capacity=row.capacity,
            booked_count=row.booked_count,
        )
