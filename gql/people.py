"""Providers and patients: queries and mutations."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from gql.context import Context
from gql.pagination import Connection, connection, decode_id_cursor, page_window
from gql.types import Patient, Provider
from models.platform.entities import Patient as PatientRow
from models.platform.entities import Provider as ProviderRow
from models.scheduling import people


@strawberry.input
class CreateProviderInput:
    first_name: str
    last_name: str
    time_zone: str | None = strawberry.field(
        default=None, description="IANA name; defaults to the clinic time zone."
    )


@strawberry.input(description="Only the rules given change; null removes a rule.")
class BookingRulesInput:
    minimum_notice_minutes: int | None = strawberry.UNSET
    booking_window_days: int | None = strawberry.UNSET
    buffer_before_minutes: int | None = strawberry.UNSET
    buffer_after_minutes: int | None = strawberry.UNSET
    max_bookings_per_day: int | None = strawberry.UNSET
    cancellation_cutoff_minutes: int | None = strawberry.UNSET
    reschedule_cutoff_minutes: int | None = strawberry.UNSET


@strawberry.input(description="Only the fields given change.")
class UpdateProviderInput:
    first_name: str | None = None
    last_name: str | None = None
    time_zone: str | None = None
    booking_rules: BookingRulesInput | None = None


@strawberry.input
class CreatePatientInput:
    first_name: str
    last_name: str


@strawberry.input(description="Only the fields given change.")
class UpdatePatientInput:
    first_name: str | None = None
    last_name: str | None = None


def _id_cursor(row: ProviderRow | PatientRow) -> tuple[int]:
    return (row.id,)


@strawberry.type
class PeopleQuery:
    @strawberry.field(description="Providers in id order; `active` filters.")
    async def providers(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        active: bool | None = None,
    ) -> Connection[Provider]:
        await info.context.require_admin()
        window = page_window(first, info.context.settings)
        page = await people.list_people(
            info.context.session,
            ProviderRow,
            page=window.request,
            active=active,
            after_id=decode_id_cursor(after),
        )
        return connection(page, window, Provider.from_row, _id_cursor)

    @strawberry.field(description="One provider by id.")
    async def provider(self, info: Info[Context, None], id: int) -> Provider:
        await info.context.require_admin()
        return Provider.from_row(await people.get_provider(info.context.session, id))

    @strawberry.field(description="Patients in id order; `active` filters.")
    async def patients(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        active: bool | None = None,
    ) -> Connection[Patient]:
        await info.context.require_admin()
        window = page_window(first, info.context.settings)
        page = await people.list_people(
            info.context.session,
            PatientRow,
            page=window.request,
            active=active,
            after_id=decode_id_cursor(after),
        )
        return connection(page, window, Patient.from_row, _id_cursor)

    @strawberry.field(description="One patient by id.")
    async def patient(self, info: Info[Context, None], id: int) -> Patient:
        await info.context.require_admin()
        return Patient.from_row(await people.get_patient(info.context.session, id))


@strawberry.type
class PeopleMutation:
    @strawberry.mutation(description="Add a provider; timeZone defaults to the clinic's.")
    async def create_provider(
        self, info: Info[Context, None], input: CreateProviderInput
    ) -> Provider:
        await info.context.require_admin()
        row = await people.create_provider(
            info.context.session,
            first_name=input.first_name,
            last_name=input.last_name,
            time_zone=input.time_zone,
            default_time_zone=info.context.settings.clinic_time_zone,
        )
        return Provider.from_row(row)

    @strawberry.mutation(description="Change a provider's names, time zone or booking rules.")
    async def update_provider(
        self, info: Info[Context, None], id: int, input: UpdateProviderInput
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
        )
        return Provider.from_row(row)

    @strawberry.mutation(description="Retire a provider: no new slots; existing ones stay.")
    async def deactivate_provider(self, info: Info[Context, None], id: int) -> Provider:
        await info.context.require_admin()
        row = await people.update_provider(info.context.session, id, active=False)
        return Provider.from_row(row)

    @strawberry.mutation(description="Add a patient.")
    async def create_patient(self, info: Info[Context, None], input: CreatePatientInput) -> Patient:
        await info.context.require_admin()
        row = await people.create_patient(
            info.context.session, first_name=input.first_name, last_name=input.last_name
        )
        return Patient.from_row(row)

    @strawberry.mutation(description="Change a patient's names.")
    async def update_patient(
        self, info: Info[Context, None], id: int, input: UpdatePatientInput
    ) -> Patient:
        await info.context.require_admin()
        row = await people.update_patient(
            info.context.session, id, first_name=input.first_name, last_name=input.last_name
        )
        return Patient.from_row(row)

    @strawberry.mutation(description="Retire a patient; their bookings stay.")
    async def deactivate_patient(self, info: Info[Context, None], id: int) -> Patient:
        await info.context.require_admin()
        row = await people.update_patient(info.context.session, id, active=False)
        return Patient.from_row(row)
