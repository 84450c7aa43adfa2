"""Providers and patients: queries and mutations."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from gql.context import Context
from gql.pagination import (
    After,
    Before,
    Connection,
    First,
    Last,
    connection,
    decode_id_cursor,
    page_window,
)
from gql.plan.lean import renders
from gql.plan.rendered import rendered, rendered_picks
from gql.types import Patient, Provider
from models.platform.entities import Patient as PatientRow
from models.platform.entities import Provider as ProviderRow
from models.platform.record_render import Picks
from models.scheduling import people, provider_render
from models.scheduling.provider_matching import MATCHING_FIELDS

TYPE_KEYS_DESCRIPTION = "Keys of the appointment types offered; empty: every type."
STATES_DESCRIPTION = "Two-letter US state and territory codes the provider is licensed in."
LANGUAGES_DESCRIPTION = "BCP 47 language tags spoken, like es-MX."


@strawberry.input(description="A provider to add.")
class CreateProviderInput:
    first_name: str = strawberry.field(description="Given name.")
    last_name: str = strawberry.field(description="Family name.")
    time_zone: str | None = strawberry.field(
        default=None, description="IANA name; defaults to the clinic time zone."
    )
    appointment_type_keys: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description=TYPE_KEYS_DESCRIPTION
    )
    licensed_states: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description=STATES_DESCRIPTION
    )
    languages: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description=LANGUAGES_DESCRIPTION
    )


@strawberry.input(description="Only the rules given change; null removes a rule.")
class BookingRulesInput:
    minimum_notice_minutes: int | None = strawberry.field(
        default=strawberry.UNSET, description="No booking starting sooner than this."
    )
    booking_window_days: int | None = strawberry.field(
        default=strawberry.UNSET, description="No booking starting this many days ahead or later."
    )
    buffer_before_minutes: int | None = strawberry.field(
        default=strawberry.UNSET, description="Kept free before each booked appointment."
    )
    buffer_after_minutes: int | None = strawberry.field(
        default=strawberry.UNSET, description="Kept free after each booked appointment."
    )
    max_bookings_per_day: int | None = strawberry.field(
        default=strawberry.UNSET, description="Bookings per day in the provider's time zone."
    )
    cancellation_cutoff_minutes: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="No cancelling this close to the appointment's start (unless overridden).",
    )
    reschedule_cutoff_minutes: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="No rescheduling this close to the appointment's start (unless overridden).",
    )
    max_bookings_per_week: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Bookings per week (from Monday) in the provider's time zone; null: none.",
    )
    max_bookings_per_month: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Bookings per calendar month in the provider's time zone; null: none.",
    )


@strawberry.input(description="Only the fields given change.")
class UpdateProviderInput:
    first_name: str | None = strawberry.field(default=None, description="The new given name.")
    last_name: str | None = strawberry.field(default=None, description="The new family name.")
    time_zone: str | None = strawberry.field(default=None, description="The new IANA zone.")
    booking_rules: BookingRulesInput | None = strawberry.field(
        default=None, description="Booking rules to change."
    )
    appointment_type_keys: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description=TYPE_KEYS_DESCRIPTION + " Replaces the list."
    )
    licensed_states: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description=STATES_DESCRIPTION + " Replaces the list."
    )
    languages: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description=LANGUAGES_DESCRIPTION + " Replaces the list."
    )


def _matching(input: CreateProviderInput | UpdateProviderInput) -> dict[str, Any]:
    """The matching lists sent; null is the empty list."""
    return {
        name: getattr(input, name) or []
        for name in MATCHING_FIELDS
        if getattr(input, name) is not strawberry.UNSET
    }


@strawberry.input(description="A patient to add.")
class CreatePatientInput:
    first_name: str = strawberry.field(description="Given name.")
    last_name: str = strawberry.field(description="Family name.")


@strawberry.input(description="Only the fields given change.")
class UpdatePatientInput:
    first_name: str | None = strawberry.field(default=None, description="The new given name.")
    last_name: str | None = strawberry.field(default=None, description="The new family name.")


def _id_cursor(row: ProviderRow | PatientRow) -> tuple[int]:
    return (row.id,)


async def _one_provider(context: Context, picks: Picks, id: int) -> str:
    return await provider_render.provider_json(context.session, picks, id)


@strawberry.type
class PeopleQuery:
    @strawberry.field(description="Providers in id order; `active` filters.")
    async def providers(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        active: Annotated[
            bool | None, strawberry.argument(description="Only active (or retired) ones.")
        ] = None,
    ) -> Connection[Provider]:
        await info.context.require_admin()
        window = page_window(first, info.context.settings, after=after, last=last, before=before)
        after_id = decode_id_cursor(window.cursor, window.cursor_field)
        if (picks := rendered_picks()) is not None:
            return await rendered(
                provider_render.provider_page_json(
                    info.context.session,
                    picks,
                    first=window.first,
                    active=active,
                    after_id=after_id,
                    backward=window.backward,
                )
            )
        page = await people.list_people(
            info.context.session,
            ProviderRow,
            page=window.request,
            active=active,
            after_id=after_id,
            backward=window.backward,
        )
        return connection(page, window, Provider.from_row, _id_cursor)

    @strawberry.field(description="One provider by id.")
    @renders(_one_provider)
    async def provider(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The provider's id.")],
    ) -> Provider:
        await info.context.require_admin()
        if (picks := rendered_picks()) is not None:
            return await rendered(_one_provider(info.context, picks, id))
        return Provider.from_row(await people.get_provider(info.context.session, id))

    @strawberry.field(description="Patients in id order; `active` filters.")
    async def patients(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        active: Annotated[
            bool | None, strawberry.argument(description="Only active (or retired) ones.")
        ] = None,
    ) -> Connection[Patient]:
        await info.context.require_admin()
        window = page_window(first, info.context.settings, after=after, last=last, before=before)
        page = await people.list_people(
            info.context.session,
            PatientRow,
            page=window.request,
            active=active,
            after_id=decode_id_cursor(window.cursor, window.cursor_field),
            backward=window.backward,
        )
        return connection(page, window, Patient.from_row, _id_cursor)

    @strawberry.field(description="One patient by id.")
    async def patient(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The patient's id.")],
    ) -> Patient:
        await info.context.require_admin()
        return Patient.from_row(await people.get_patient(info.context.session, id))


@strawberry.type
class PeopleMutation:
    @strawberry.mutation(description="Add a provider; timeZone defaults to the clinic's.")
    async def create_provider(
        self,
        info: Info[Context, None],
        input: Annotated[
            CreateProviderInput, strawberry.argument(description="The fields to write.")
        ],
    ) -> Provider:
        await info.context.require_admin()
        row = await people.create_provider(
            info.context.session,
            first_name=input.first_name,
            last_name=input.last_name,
            time_zone=input.time_zone,
            default_time_zone=info.context.settings.clinic_time_zone,
            matching=_matching(input),
        )
        return Provider.from_row(row)

    @strawberry.mutation(description="Change a provider's names, time zone or booking rules.")
    async def update_provider(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The provider's id.")],
        input: Annotated[
            UpdateProviderInput, strawberry.argument(description="The fields to write.")
        ],
    ) -> Provider:
        await info.context.require_admin()
        row = await people.update_provider(
            info.context.session,
            id,
            first_name=input.first_name,
            last_name=input.last_name,
            time_zone=input.time_zone,
            booking_rules=(
                {
                    name: value
                    for name, value in vars(input.booking_rules).items()
                    if value is not strawberry.UNSET
                }
                if input.booking_rules is not None
                else None
            ),
            matching=_matching(input),
        )
        return Provider.from_row(row)

    @strawberry.mutation(description="Retire a provider: no new slots; existing ones stay.")
    async def deactivate_provider(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The provider's id.")],
    ) -> Provider:
        await info.context.require_admin()
        row = await people.update_provider(info.context.session, id, active=False)
        return Provider.from_row(row)

    @strawberry.mutation(description="Add a patient.")
    async def create_patient(
        self,
        info: Info[Context, None],
        input: Annotated[
            CreatePatientInput, strawberry.argument(description="The fields to write.")
        ],
    ) -> Patient:
        await info.context.require_admin()
        row = await people.create_patient(
            info.context.session, first_name=input.first_name, last_name=input.last_name
        )
        return Patient.from_row(row)

    @strawberry.mutation(description="Change a patient's names.")
    async def update_patient(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The patient's id.")],
        input: Annotated[
            UpdatePatientInput, strawberry.argument(description="The fields to write.")
        ],
    ) -> Patient:
        await info.context.require_admin()
        row = await people.update_patient(
            info.context.session, id, first_name=input.first_name, last_name=input.last_name
        )
        return Patient.from_row(row)

    @strawberry.mutation(description="Retire a patient; their bookings stay.")
    async def deactivate_patient(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The patient's id.")],
    ) -> Patient:
        await info.context.require_admin()
        row = await people.update_patient(info.context.session, id, active=False)
        return Patient.from_row(row)
