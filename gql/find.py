"""Find a time: the earliest options for an appointment type across providers."""

from __future__ import annotations

import enum
from datetime import date
from typing import Annotated

import strawberry
from strawberry.types import Info

from gql.appointment_types import AppointmentMode
from gql.context import Context
from gql.types import AvailableSlot, Provider
from models.booking import find as ops


@strawberry.enum(description="Why a slot in range is no option (the first that applies).")
class SlotCause(enum.Enum):
    TIME_OFF = strawberry.enum_value("time_off", description="The provider is away.")
    EXTERNAL_BUSY = strawberry.enum_value(
        "external_busy", description="Busy time in one of the provider's external calendars."
    )
    CLOSED = strawberry.enum_value("closed", description="An admin closed the slot.")
    FULL = strawberry.enum_value("full", description="Every seat is booked or held.")
    MINIMUM_NOTICE = strawberry.enum_value(
        "minimum_notice", description="It starts sooner than the provider's notice."
    )
    BOOKING_WINDOW = strawberry.enum_value(
        "booking_window", description="It starts beyond the provider's booking window."
    )
    BUFFER = strawberry.enum_value(
        "buffer", description="Another appointment is within the buffer."
    )
    DAILY_LIMIT = strawberry.enum_value(
        "daily_limit", description="The provider's bookings per day are reached."
    )
    WEEKLY_LIMIT = strawberry.enum_value(
        "weekly_limit", description="The provider's bookings per week are reached."
    )
    MONTHLY_LIMIT = strawberry.enum_value(
        "monthly_limit", description="The provider's bookings per month are reached."
    )
    TOO_SHORT = strawberry.enum_value(
        "too_short", description="Shorter than the appointment type lasts."
    )
    NO_RESOURCE = strawberry.enum_value(
        "no_resource", description="No resource of the kind the slot needs is free."
    )


@strawberry.enum(description="Why a provider as a whole has no option.")
class ProviderCause(enum.Enum):
    TYPE_NOT_OFFERED = strawberry.enum_value(
        "type_not_offered", description="The provider does not offer the type."
    )
    NOT_LICENSED = strawberry.enum_value(
        "not_licensed", description="Not licensed in the state asked for."
    )
    LANGUAGE = strawberry.enum_value("language", description="Does not speak the language.")
    NO_SLOTS = strawberry.enum_value("no_slots", description="No slot of the type in range.")


@strawberry.input(description="What to find: a type, a range of days, and filters.")
class FindAvailabilityInput:
    appointment_type: str = strawberry.field(description="The appointment type's key.")
    start_date: date = strawberry.field(description="First day, in the clinic time zone.")
    end_date: date = strawberry.field(
        description=f"Last day, in the clinic time zone; at most {ops.MAX_RANGE_DAYS} days."
    )
    provider_ids: list[int] | None = strawberry.field(
        default=None, description="Only these providers."
    )
    licensed_state: str | None = strawberry.field(
        default=None, description="A two-letter US state or territory code."
    )
    language: str | None = strawberry.field(
        default=None, description="A BCP 47 tag; matches on the primary subtag (es: es-MX)."
    )
    mode: AppointmentMode | None = strawberry.field(
        default=None, description="Only if the type may take place this way."
    )
    first: int | None = strawberry.field(
        default=None, description=f"Options wanted: 1 to {ops.MAX_LIMIT}, default 10."
    )
    spread: bool = strawberry.field(
        default=False, description="Each provider's first option before anyone's second."
    )
    explain: bool = strawberry.field(
        default=False, description="Add why each provider without an option has none."
    )


@strawberry.type(description="A slot a patient could take now.")
class FindOption:
    slot: AvailableSlot = strawberry.field(description="The slot.")
    provider: Provider = strawberry.field(description="Its provider.")
    resource_kind: str | None = strawberry.field(
        description="The kind of resource (a room) the option needs; null: none. Booking it "
        "takes a free one of the kind."
    )


@strawberry.type(description="How many of a provider's slots a cause ruled out.")
class CauseCount:
    cause: SlotCause = strawberry.field(description="The first cause ruling each out.")
    count: int = strawberry.field(description="Slots in range it ruled out.")


@strawberry.type(description="A provider in scope with no option, and why.")
class UnavailableProvider:
    provider_id: int = strawberry.field(description="The provider's id.")
    ruled_out: ProviderCause | None = strawberry.field(
        description="Why the provider as a whole has none; null: see slotCounts."
    )
    slot_counts: list[CauseCount] = strawberry.field(
        description="The provider's slots in range by cause, in the causes' order."
    )


@strawberry.type(description="The options found, and with explain why others have none.")
class FindResult:
    options: list[FindOption] = strawberry.field(description="In start order, ties by provider id.")
    unavailable_providers: list[UnavailableProvider] | None = strawberry.field(
        description="Only with explain: providers in scope without an option."
    )


def _unavailable(item: ops.UnavailableProvider) -> UnavailableProvider:
    return UnavailableProvider(
        provider_id=item.provider_id,
        ruled_out=ProviderCause(item.ruled_out) if item.ruled_out else None,
        slot_counts=[
            CauseCount(cause=SlotCause(cause), count=count)
            for cause, count in item.slot_counts.items()
        ],
    )


@strawberry.type
class FindQuery:
    @strawberry.field(
        description="The earliest slots a patient could take for an appointment type, "
        "every booking rule applied, across the providers who match."
    )
    async def find_availability(
        self,
        info: Info[Context, None],
        input: Annotated[
            FindAvailabilityInput,
            strawberry.argument(description="What to find: a type, a range and filters."),
        ],
    ) -> FindResult:
        await info.context.require_admin()
        session = info.context.session
        request = await ops.check_find(
            session,
            appointment_type=input.appointment_type,
            start_date=input.start_date,
            end_date=input.end_date,
            provider_ids=input.provider_ids,
            licensed_state=input.licensed_state,
            language=input.language,
            mode=input.mode.value if input.mode else None,
            limit=input.first,
            spread=input.spread,
            explain=input.explain,
        )
        result = await ops.find_availability(
            session, request, zone=info.context.settings.clinic_zone
        )
        options = []
        for row in result.options:
            slot = AvailableSlot.from_row(row)
            options.append(
                FindOption(slot=slot, provider=slot.provider, resource_kind=slot.resource_kind)
            )
        unavailable = result.unavailable_providers
        return FindResult(
            options=options,
            unavailable_providers=(
                None if unavailable is None else [_unavailable(item) for item in unavailable]
            ),
        )
