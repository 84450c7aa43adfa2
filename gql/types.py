"""GraphQL object types over the domain rows."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import strawberry
from sqlalchemy import Row
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition

from models.platform.entities import AvailableSlot as SlotRow
from models.platform.entities import Patient as PatientRow
from models.platform.entities import Provider as ProviderRow
from models.platform.timeutil import format_timestamp, parse_timestamp


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
    cancellation_cutoff_minutes: int | None = strawberry.field(
        description="No cancelling this close to the appointment's start, unless "
        "overrideRules (recorded in the audit)."
    )
    reschedule_cutoff_minutes: int | None = strawberry.field(
        description="No rescheduling this close to the appointment's start, unless "
        "overrideRules (recorded in the audit)."
    )

    @classmethod
    def of(cls, source: Any, prefix: str = "") -> BookingRules:
        """From a provider, or from a slot row's flat ``provider_*`` columns."""
        if isinstance(source, Row):
            mapping = source._mapping
            values = tuple(mapping[name] for name in _rule_columns(prefix))
        else:
            values = tuple(getattr(source, name) for name in _rule_columns(prefix))
        if values == _NO_RULE_VALUES:
            return _NO_RULES  # most providers: one shared, read-only value
        return cls(**dict(zip(_RULE_FIELDS, values, strict=True)))


_RULE_FIELDS = (
    "minimum_notice_minutes",
    "booking_window_days",
    "buffer_before_minutes",
    "buffer_after_minutes",
    "max_bookings_per_day",
    "cancellation_cutoff_minutes",
    "reschedule_cutoff_minutes",
)
_NO_RULE_VALUES = (None,) * len(_RULE_FIELDS)


@cache
def _rule_columns(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{name}" for name in _RULE_FIELDS)


_NO_RULES = BookingRules(**dict.fromkeys(_RULE_FIELDS))


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
        """From a slot read row (``models.scheduling.slots.SLOT_COLUMNS``) or an entity."""
        # Built field by field, without the dataclass __init__, reading a row through its
        # mapping (a row's attribute lookup costs several times more): a page builds fifty
        # of these with their providers, and these types have nothing to run on init.
        get = row._mapping.__getitem__ if isinstance(row, Row) else row.__getattribute__
        provider = object.__new__(Provider)
        provider.__dict__.update(
            id=get("provider_id"),
            first_name=get("provider_first_name"),
            last_name=get("provider_last_name"),
            time_zone=get("provider_time_zone"),
            active=get("provider_active"),
            booking_rules=BookingRules.of(row, prefix="provider_"),
        )
        slot = object.__new__(cls)
        slot.__dict__.update(
            id=get("id"),
            provider_id=get("provider_id"),
            start_time=get("start_time"),
            end_time=get("end_time"),
            duration_minutes=get("duration_minutes"),
            appointment_type=get("appointment_type"),
            available=get("available"),
            recurring=get("recurring"),
            recurrence_pattern=get("recurrence_pattern"),
            recurrence_rule=get("recurrence_rule"),
            series_id=get("series_id"),
            created_at=get("created_at"),
            updated_at=get("updated_at"),
            provider=provider,
            capacity=get("capacity"),
            booked_count=get("booked_count"),
        )
        return slot
