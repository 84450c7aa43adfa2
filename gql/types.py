"""GraphQL object types over the domain rows."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from functools import cache
from typing import Any, cast

import strawberry
from graphql import GraphQLError, StringValueNode, ValueNode, print_ast
from sqlalchemy import Row, select
from strawberry.dataloader import DataLoader
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition

from models.platform.entities import AvailableSlot as SlotRow
from models.platform.entities import Patient as PatientRow
from models.platform.entities import Provider as ProviderRow
from models.platform.errors import ValidationFailed
from models.platform.timeutil import (
    DAY_OUT_OF_RANGE,
    calendar_day,
    format_timestamp,
    parse_date,
    parse_timestamp,
)


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


def _serialize_day(value: date | str) -> str:
    day = parse_date(value)
    if day is None:
        raise ValueError(f"Value cannot represent a Date: {value!r}")
    return day.isoformat()


def _parse_day(value: Any, node: ValueNode | None = None) -> date:
    """Strictly ``YYYY-MM-DD``; anything else is the contract's VALIDATION_FAILED."""
    day = parse_date(value) if isinstance(value, str) else None
    if day is None:
        invalid = ValidationFailed.one("date", _day_error(value))
        shown = print_ast(node) if node is not None else repr(value)
        raise GraphQLError(
            f"Value cannot represent a Date: {shown}. Expected a calendar day, "
            "YYYY-MM-DD, like 2030-10-27.",
            node,
            extensions={"code": invalid.code, "status": invalid.status, "errors": invalid.errors},
        )
    return day


def _day_error(value: Any) -> str:
    """Why a value is no Date: not a calendar day, or one outside the years served."""
    return DAY_OUT_OF_RANGE if calendar_day(value) is not None else DATE_FORMAT_ERROR


def _parse_day_literal(node: ValueNode, _variables: Any = None) -> date:
    return _parse_day(node.value if isinstance(node, StringValueNode) else None, node)


DATE_FORMAT_ERROR = "must be a calendar day, YYYY-MM-DD"
# A calendar day, as in REST: 2030-10-27 both ways.
DATE = strawberry.scalar(
    name="Date",
    description="A calendar day, ISO 8601 YYYY-MM-DD (2030-10-27), both on output and input.",
    serialize=_serialize_day,
    parse_value=_parse_day,
    parse_literal=_parse_day_literal,
)
SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {datetime: UTC_DATETIME, date: DATE}


@strawberry.enum(description="How a recurring slot repeats.")
class RecurrencePattern(Enum):
    DAILY = strawberry.enum_value("daily", description="Every day.")
    WEEKLY = strawberry.enum_value("weekly", description="Every week, on the same weekday.")
    BIWEEKLY = strawberry.enum_value(
        "biweekly", description="Every other week, on the same weekday."
    )
    MONTHLY = strawberry.enum_value("monthly", description="Every month, on the same day.")
    CUSTOM = strawberry.enum_value("custom", description="As `recurrenceRule` (an RRULE) says.")


def enum_text(member: Enum) -> str:
    """The stored form of an enum member (described members' values are their text)."""
    return str(member.value)


def pattern_value(pattern: RecurrencePattern | str | None) -> str | None:
    """The stored form of a pattern (the enum's value)."""
    return enum_text(pattern) if isinstance(pattern, RecurrencePattern) else pattern


def encode_node_id(type_name: str, ident: int) -> str:
    """A record's global id: base64 of ``TypeName:id`` (standard alphabet, padded)."""
    return base64.b64encode(f"{type_name}:{ident}".encode()).decode()


def decode_node_id(node_id: str) -> tuple[str, int] | None:
    """The (type name, id) of a global id; None when it is not one."""
    try:
        text = base64.b64decode(node_id.encode(), validate=True).decode()
    except (ValueError, UnicodeError, binascii.Error):
        return None
    type_name, _, ident = text.partition(":")
    if not type_name.isidentifier() or not ident.isdigit() or not ident.isascii():
        return None
    if encode_node_id(type_name, int(ident)) != node_id:
        return None  # one spelling per record: no leading zeros, no stray padding
    return type_name, int(ident)


@strawberry.interface(
    description="A record with a global id: refetch any record with `node(nodeId:)`."
)
class Node:
    @strawberry.field(
        description="The record's global id (its type and id), for `node` and `nodes`."
    )
    def node_id(self) -> strawberry.ID:
        name = type(self).__strawberry_definition__.name  # type: ignore[attr-defined]
        return strawberry.ID(encode_node_id(name, self.id))  # type: ignore[attr-defined]


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
    "cancellation_cutoff_minutes",
    "reschedule_cutoff_minutes",
    "max_bookings_per_week",
    "max_bookings_per_month",
)
_NO_RULE_VALUES = (None,) * len(_RULE_FIELDS)


@cache
def _rule_columns(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{name}" for name in _RULE_FIELDS)


_NO_RULES = BookingRules(**dict.fromkeys(_RULE_FIELDS))


@strawberry.type(description="A clinician whose availability is published as slots.")
class Provider(Node):
    id: int = strawberry.field(description="The provider's id.")
    first_name: str = strawberry.field(description="Given name.")
    last_name: str = strawberry.field(description="Family name.")
    time_zone: str = strawberry.field(
        description="IANA time zone of the provider's days (booking rules count in it)."
    )
    active: bool = strawberry.field(description="False once retired: no new slots.")
    booking_rules: BookingRules = strawberry.field(
        description="What a patient may book of this provider."
    )

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
        if hasattr(row, "appointment_type_keys"):
            # A whole provider row; a grouped list's provider carries names and rules only.
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


@strawberry.type(description="A person who books slots.")
class Patient(Node):
    id: int = strawberry.field(description="The patient's id.")
    first_name: str = strawberry.field(description="Given name.")
    last_name: str = strawberry.field(description="Family name.")
    active: bool = strawberry.field(description="False once retired; their bookings stay.")
    created_at: datetime = strawberry.field(description="When the patient was added.")

    @classmethod
    def from_row(cls, row: PatientRow) -> Patient:
        return cls(
            id=row.id,
            first_name=row.first_name,
            last_name=row.last_name,
            active=row.active,
            created_at=row.created_at,
        )


@strawberry.type(description="A provider's time a patient can book.")
class AvailableSlot(Node):
    id: int = strawberry.field(description="The slot's id.")
    provider_id: int = strawberry.field(description="The provider's id.")
    start_time: datetime = strawberry.field(description="When the slot starts.")
    end_time: datetime = strawberry.field(description="When the slot ends (after its start).")
    duration_minutes: int = strawberry.field(description="End minus start, in minutes.")
    appointment_type: str | None = strawberry.field(
        description="The appointment type the slot is for; null: any type."
    )
    available: bool = strawberry.field(
        description="Open for booking now: not closed, not under a time off, a seat free."
    )
    recurring: bool = strawberry.field(description="True for an occurrence of a series.")
    recurrence_pattern: RecurrencePattern | None = strawberry.field(
        description="How the slot's series repeats; null for a one-off slot."
    )
    recurrence_rule: str | None = strawberry.field(
        description="The series' RFC 5545 RRULE; null for a one-off slot."
    )
    series_id: int | None = strawberry.field(
        description="The series the slot is an occurrence of (see slotSeries)."
    )
    created_at: datetime = strawberry.field(description="When the slot was created.")
    updated_at: datetime = strawberry.field(description="When the slot last changed.")
    provider: Provider = strawberry.field(description="The slot's provider.")
    capacity: int = strawberry.field(description="Seats: bookings the slot takes.")
    booked_count: int = strawberry.field(description="Seats taken by active bookings.")
    resource_kind: str | None = strawberry.field(
        description="The kind of resource (a room) the slot needs; null: none."
    )
    resource_id: int | None = strawberry.field(
        description="The resource the slot keeps while a hold or an active booking takes a "
        "seat; null: none yet."
    )

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
            resource_kind=get("resource_kind"),
            resource_id=get("resource_id"),
        )
        return slot
