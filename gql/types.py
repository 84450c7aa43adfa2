"""GraphQL object types over the domain rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, cast

import strawberry
from sqlalchemy import Row, select
from strawberry.dataloader import DataLoader
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition

from gql.scalars import DATE
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
SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {datetime: UTC_DATETIME, date: DATE}


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
    max_bookings_per_week: int | None = strawberry.field(
        description="Bookings (one per seat) per week, from Monday, in the provider's time zone."
    )
    max_bookings_per_month: int | None = strawberry.field(
        description="Bookings (one per seat) per calendar month in the provider's time zone."
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
    "max_bookings_per_week",
    "max_bookings_per_month",
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

    @strawberry.field(
        description="Keys of the appointment types the provider offers; empty: every type."
    )
    async def appointment_type_keys(self, info: strawberry.Info) -> list[str]:
        return list((await _matching_of(self, info)).appointment_type_keys)

    @strawberry.field(description="Two-letter US state and territory codes licensed in.")
    async def licensed_states(self, info: strawberry.Info) -> list[str]:
        return list((await _matching_of(self, info)).licensed_states)

    @strawberry.field(
        description="BCP 47 language tags spoken (a filter matches the primary subtag)."
    )
    async def languages(self, info: strawberry.Info) -> list[str]:
        return list((await _matching_of(self, info)).languages)

    @classmethod
    def from_row(cls, row: ProviderRow | Any) -> Provider:
        provider = cls(
            id=row.id,
            first_name=row.first_name,
            last_name=row.last_name,
            time_zone=row.time_zone,
            active=row.active,
            booking_rules=BookingRules.of(row),
        )
        provider.__dict__["_matching"] = Matching.of(row)
        return provider


@dataclass(frozen=True, slots=True)
class Matching:
    """What a provider is matched on, as stored."""

    appointment_type_keys: tuple[str, ...]
    licensed_states: tuple[str, ...]
    languages: tuple[str, ...]

    @classmethod
    def of(cls, row: Any) -> Matching:
        return cls(
            tuple(row.appointment_type_keys or ()),
            tuple(row.licensed_states or ()),
            tuple(row.languages or ()),
        )


async def _load_matching(session: Any, ids: list[int]) -> list[Matching]:
    rows = await session.execute(
        select(
            ProviderRow.id,
            ProviderRow.appointment_type_keys,
            ProviderRow.licensed_states,
            ProviderRow.languages,
        ).where(ProviderRow.id.in_(ids))
    )
    found = {row.id: Matching.of(row) for row in rows}
    return [found.get(provider_id, Matching((), (), ())) for provider_id in ids]


async def _matching_of(provider: Provider, info: strawberry.Info) -> Matching:
    """From the provider's row when it was read whole; else one batched read a request
    (a slot row carries only the provider's names and rules)."""
    known = provider.__dict__.get("_matching")
    if known is not None:
        return cast(Matching, known)
    loaders = info.context.loaders
    loader = loaders.get("provider_matching")
    if loader is None:
        session = info.context.session
        loader = loaders["provider_matching"] = DataLoader(
            lambda ids: _load_matching(session, list(ids))
        )
    return cast(Matching, await loader.load(provider.id))


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
