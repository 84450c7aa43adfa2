"""The appointment type catalog: queries and mutations."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from gql.context import Context
from gql.plan.rendered import rendered, rendered_picks
from models.platform.entities import AppointmentType as AppointmentTypeRow
from models.scheduling import appointment_type_render
from models.scheduling import appointment_types as ops


@strawberry.enum(description="How an appointment takes place.")
class AppointmentMode(enum.Enum):
    VIDEO = strawberry.enum_value("video", description="By video call.")
    PHONE = strawberry.enum_value("phone", description="By telephone.")
    IN_PERSON = strawberry.enum_value("in_person", description="At the clinic.")


@strawberry.type(description="A kind of appointment a slot or booking may be of.")
class AppointmentType:
    id: int = strawberry.field(description="The type's id.")
    key: str = strawberry.field(
        description="The text every `appointmentType` field carries; fixed once created."
    )
    name: str = strawberry.field(description="The name shown to people.")
    duration_minutes: int = strawberry.field(
        description="How long an appointment of the type lasts."
    )
    buffer_before_minutes: int | None = strawberry.field(
        description="Kept free before, instead of the provider's buffer; null: the provider's."
    )
    buffer_after_minutes: int | None = strawberry.field(
        description="Kept free after, instead of the provider's buffer; null: the provider's."
    )
    cancellation_cutoff_minutes: int | None = strawberry.field(
        description="How late before its start a booking of the type may be cancelled, "
        "instead of the provider's cutoff; null: the provider's."
    )
    reschedule_cutoff_minutes: int | None = strawberry.field(
        description="How late before its start a booking of the type may be rescheduled, "
        "instead of the provider's cutoff; null: the provider's."
    )
    modes: list[AppointmentMode] = strawberry.field(
        description="How appointments of the type may take place."
    )
    active: bool = strawberry.field(
        description="False once retired: its key is then refused in new records."
    )
    created_at: datetime = strawberry.field(description="When the type was created.")
    updated_at: datetime = strawberry.field(description="When the type last changed.")

    @classmethod
    def from_row(cls, row: AppointmentTypeRow) -> AppointmentType:
        return cls(
            id=row.id,
            key=row.key,
            name=row.name,
            duration_minutes=row.duration_minutes,
            buffer_before_minutes=row.buffer_before_minutes,
            buffer_after_minutes=row.buffer_after_minutes,
            cancellation_cutoff_minutes=row.cancellation_cutoff_minutes,
            reschedule_cutoff_minutes=row.reschedule_cutoff_minutes,
            modes=[AppointmentMode(mode) for mode in row.modes],
            active=row.active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.input(description="A new appointment type.")
class CreateAppointmentTypeInput:
    key: str = strawberry.field(description="Lower-case letters, digits and _; at most 40.")
    name: str = strawberry.field(description="At most 100 characters.")
    duration_minutes: int = strawberry.field(description="1 to 1440.")
    buffer_before_minutes: int | None = strawberry.field(
        default=None, description="0 to 1440; null: the provider's buffer."
    )
    buffer_after_minutes: int | None = strawberry.field(
        default=None, description="0 to 1440; null: the provider's buffer."
    )
    cancellation_cutoff_minutes: int | None = strawberry.field(
        default=None, description="0 to 525600; null: the provider's cutoff."
    )
    reschedule_cutoff_minutes: int | None = strawberry.field(
        default=None, description="0 to 525600; null: the provider's cutoff."
    )
    modes: list[AppointmentMode] | None = strawberry.field(
        default=None, description="How it may take place; default: every mode."
    )
    active: bool = strawberry.field(default=True, description="False: created retired.")


@strawberry.input(description="Only the fields given change; the key cannot.")
class UpdateAppointmentTypeInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="New name.")
    duration_minutes: int | None = strawberry.field(
        default=strawberry.UNSET, description="1 to 1440."
    )
    buffer_before_minutes: int | None = strawberry.field(
        default=strawberry.UNSET, description="0 to 1440; null: the provider's buffer."
    )
    buffer_after_minutes: int | None = strawberry.field(
        default=strawberry.UNSET, description="0 to 1440; null: the provider's buffer."
    )
    cancellation_cutoff_minutes: int | None = strawberry.field(
        default=strawberry.UNSET, description="0 to 525600; null: the provider's cutoff."
    )
    reschedule_cutoff_minutes: int | None = strawberry.field(
        default=strawberry.UNSET, description="0 to 525600; null: the provider's cutoff."
    )
    modes: list[AppointmentMode] | None = strawberry.field(
        default=strawberry.UNSET, description="How it may take place."
    )
    active: bool | None = strawberry.field(
        default=strawberry.UNSET, description="False retires the type; true brings it back."
    )


def _values(source: object) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in vars(source).items():
        if value is strawberry.UNSET:
            continue
        if name == "modes" and value is not None:
            value = [mode.value for mode in value]
        values[name] = value
    return values


@strawberry.type
class AppointmentTypeQuery:
    @strawberry.field(description="The appointment type catalog in id order.")
    async def appointment_types(
        self,
        info: Info[Context, None],
        active: Annotated[
            bool | None,
            strawberry.argument(description="Only active (true) or retired (false) types."),
        ] = None,
    ) -> list[AppointmentType]:
        await info.context.require_admin()
        if (picks := rendered_picks()) is not None:
            return await rendered(  # type: ignore[no-any-return]
                appointment_type_render.types_json(info.context.session, picks, active=active)
            )
        rows = await ops.list_types(info.context.session, active=active)
        return [AppointmentType.from_row(row) for row in rows]

    @strawberry.field(description="One appointment type by key.")
    async def appointment_type(
        self,
        info: Info[Context, None],
        key: Annotated[str, strawberry.argument(description="The type's key.")],
    ) -> AppointmentType:
        await info.context.require_admin()
        if (picks := rendered_picks()) is not None:
            return await rendered(
                appointment_type_render.type_json(info.context.session, picks, key)
            )
        return AppointmentType.from_row(await ops.get_type_by_key(info.context.session, key))


@strawberry.type
class AppointmentTypeMutation:
    @strawberry.mutation(description="Add an appointment type to the catalog.")
    async def create_appointment_type(
        self,
        info: Info[Context, None],
        input: Annotated[
            CreateAppointmentTypeInput, strawberry.argument(description="The new type.")
        ],
    ) -> AppointmentType:
        await info.context.require_admin()
        values = _values(input)
        if values.get("modes") is None:
            values.pop("modes", None)
        row = await ops.create_type(info.context.session, values)
        return AppointmentType.from_row(row)

    @strawberry.mutation(description="Change an appointment type; `active: false` retires it.")
    async def update_appointment_type(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The type's id.")],
        input: Annotated[
            UpdateAppointmentTypeInput, strawberry.argument(description="What changes.")
        ],
    ) -> AppointmentType:
        await info.context.require_admin()
        row = await ops.update_type(info.context.session, id, _values(input))
        return AppointmentType.from_row(row)
