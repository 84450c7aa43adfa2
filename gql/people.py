"""Providers and patients: queries and mutations."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from gql.context import Context
from gql.types import Patient, Provider
from models import people


@strawberry.input
class CreateProviderInput:
    first_name: str
    last_name: str
    time_zone: str | None = None


@strawberry.input
class CreatePatientInput:
    first_name: str
    last_name: str


@strawberry.type
class PeopleQuery:
    @strawberry.field(description="One provider by id.")
    async def provider(self, info: Info[Context, None], id: int) -> Provider:
        await info.context.require_admin()
        return Provider.from_row(await people.get_provider(info.context.session, id))


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

    @strawberry.mutation(description="Add a patient.")
    async def create_patient(self, info: Info[Context, None], input: CreatePatientInput) -> Patient:
        await info.context.require_admin()
        row = await people.create_patient(
            info.context.session, first_name=input.first_name, last_name=input.last_name
        )
        return Patient.from_row(row)
