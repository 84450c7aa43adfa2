"""Holds: a seat kept for a few minutes; queries and mutations."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

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
from gql.types import Node, enum_text
from models.booking import holds as hold_ops
from models.booking.holds import HoldFilters, HoldInput, status_at
from models.platform.entities import Hold as HoldRow
from models.platform.entities import HoldStatus as HoldStatusRow
from models.platform.timeutil import now_utc


@strawberry.enum(description="HELD until expiresAt; then EXPIRED, or RELEASED, or BOOKED.")
class HoldStatus(Enum):
    HELD = strawberry.enum_value("held", description="Keeping its seat until expiresAt.")
    RELEASED = strawberry.enum_value("released", description="Given up; the seat is free.")
    EXPIRED = strawberry.enum_value("expired", description="Ran out; the seat is free.")
    BOOKED = strawberry.enum_value("booked", description="Became a booking.")


@strawberry.type(description="A seat of a slot kept until it expires, is released or booked.")
class Hold(Node):
    id: int = strawberry.field(description="The hold's id.")
    available_slot_id: int = strawberry.field(description="The slot held.")
    patient_id: int | None = strawberry.field(description="The patient it is for, if given.")
    status: HoldStatus = strawberry.field(description="Where the hold stands now.")
    expires_at: datetime = strawberry.field(description="When the seat is freed unless booked.")
    created_at: datetime = strawberry.field(description="When the hold was made.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    resource_id: int | None = strawberry.field(
        description="The resource (a room) the hold's slot took for it; null: none needed."
    )

    @classmethod
    def from_row(cls, row: HoldRow) -> Hold:
        return cls(
            id=row.id,
            available_slot_id=row.available_slot_id,
            patient_id=row.patient_id,
            status=HoldStatus(status_at(row, now_utc()).value),
            expires_at=row.expires_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            resource_id=row.resource_id,
        )


@strawberry.input(description="Filters of holds; all optional, combined with AND.")
class HoldFilter:
    available_slot_id: int | None = strawberry.field(
        default=None, description="Holds on this slot."
    )
    patient_id: int | None = strawberry.field(default=None, description="Holds for this patient.")
    status: HoldStatus | None = strawberry.field(default=None, description="Holds in this status.")


@strawberry.input(description="A seat to keep.")
class CreateHoldInput:
    available_slot_id: int = strawberry.field(description="The slot whose seat to keep.")
    patient_id: int | None = strawberry.field(
        default=None, description="The patient it is for; only they can book with it."
    )
    duration_seconds: int | None = strawberry.field(
        default=None, description="30 to 3600; 300 if not given."
    )


@strawberry.type(description="The hold releaseHold freed.")
class ReleaseHoldPayload:
    id: int = strawberry.field(description="The hold's id.")
    released: bool = strawberry.field(description="Always true.")


def _cursor(row: HoldRow) -> tuple[int]:
    return (row.id,)


@strawberry.type
class HoldQuery:
    @strawberry.field(description="Holds, newest first, filtered.")
    async def holds(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            HoldFilter | None, strawberry.argument(description="Which items; all when not given.")
        ] = None,
    ) -> Connection[Hold]:
        await info.context.require_admin()
        wanted = filter or HoldFilter()
        window = page_window(first, info.context.settings, after=after, last=last, before=before)
        page = await hold_ops.list_holds(
            info.context.session,
            HoldFilters(
                available_slot_id=wanted.available_slot_id,
                patient_id=wanted.patient_id,
                status=HoldStatusRow(enum_text(wanted.status)) if wanted.status else None,
            ),
            page=window.request,
            before_id=decode_id_cursor(window.cursor, window.cursor_field),
            backward=window.backward,
        )
        return connection(page, window, Hold.from_row, _cursor)

    @strawberry.field(description="One hold by id.")
    async def hold(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The hold's id.")],
    ) -> Hold:
        await info.context.require_admin()
        return Hold.from_row(await hold_ops.get_hold(info.context.session, id))


@strawberry.type
class HoldMutation:
    @strawberry.mutation(description="Keep a seat of a slot; no free seat is a CONFLICT.")
    async def create_hold(
        self,
        info: Info[Context, None],
        input: Annotated[CreateHoldInput, strawberry.argument(description="The fields to write.")],
    ) -> Hold:
        await info.context.require_admin()
        row = await hold_ops.create_hold(
            info.context.session,
            HoldInput(
                available_slot_id=input.available_slot_id,
                patient_id=input.patient_id,
                duration_seconds=input.duration_seconds,
            ),
        )
        return Hold.from_row(row)

    @strawberry.mutation(
        description="Free a hold's seat; a released or expired hold is fine, a booked one not."
    )
    async def release_hold(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The hold's id.")],
    ) -> ReleaseHoldPayload:
        await info.context.require_admin()
        await hold_ops.release_hold(info.context.session, id)
        return ReleaseHoldPayload(id=id, released=True)
