"""Waitlists: patients waiting for a seat, offered one through a hold when it opens."""

from __future__ import annotations

from datetime import date, datetime
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
from gql.types import enum_text
from models.booking import waitlist as waitlist_ops
from models.booking.waitlist import WaitlistFilters, WaitlistInput
from models.platform.entities import WaitlistEntry as EntryRow
from models.platform.entities import WaitlistStatus as StatusRow


@strawberry.enum(
    description="WAITING until a matching seat opens; OFFERED while a hold is kept for it; "
    "then FULFILLED (booked with the hold), LAPSED (the offer not taken) or CANCELLED."
)
class WaitlistStatus(Enum):
    WAITING = strawberry.enum_value("waiting", description="In the queue for a seat.")
    OFFERED = strawberry.enum_value(
        "offered", description="A seat is held for the patient (holdId) for offerSeconds."
    )
    FULFILLED = strawberry.enum_value("fulfilled", description="Booked with the offered hold.")
    LAPSED = strawberry.enum_value(
        "lapsed", description="The offer expired or was released; it passed to the next entry."
    )
    CANCELLED = strawberry.enum_value("cancelled", description="Taken off the waitlist.")


@strawberry.type(description="A patient waiting for a seat that matches.")
class WaitlistEntry:
    id: int = strawberry.field(description="The entry's id.")
    patient_id: int = strawberry.field(description="The patient waiting.")
    provider_id: int | None = strawberry.field(description="The provider wanted; null: any.")
    appointment_type: str | None = strawberry.field(
        description="The appointment type wanted; null: any."
    )
    start_date: date = strawberry.field(description="First clinic day wanted.")
    end_date: date = strawberry.field(description="Last clinic day wanted (inclusive).")
    offer_seconds: int = strawberry.field(description="How long an offered hold lasts.")
    status: WaitlistStatus = strawberry.field(description="Where the entry stands.")
    hold_id: int | None = strawberry.field(
        description="The latest offer's hold: book with it (holdId) to take the seat."
    )
    offered_slot_id: int | None = strawberry.field(description="The latest offer's slot.")
    offer_count: int = strawberry.field(description="Offers made to this entry.")
    created_at: datetime = strawberry.field(description="When the patient joined the queue.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_row(cls, row: EntryRow) -> WaitlistEntry:
        return cls(
            id=row.id,
            patient_id=row.patient_id,
            provider_id=row.provider_id,
            appointment_type=row.appointment_type,
            start_date=row.start_date,
            end_date=row.end_date,
            offer_seconds=row.offer_seconds,
            status=WaitlistStatus(row.status.value),
            hold_id=row.hold_id,
            offered_slot_id=row.offered_slot_id,
            offer_count=row.offer_count,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.input(description="Filters of waitlist entries; all optional, combined with AND.")
class WaitlistEntryFilter:
    patient_id: int | None = strawberry.field(default=None, description="Entries of this patient.")
    provider_id: int | None = strawberry.field(
        default=None, description="Entries asking for this provider."
    )
    status: WaitlistStatus | None = strawberry.field(
        default=None, description="Entries in this status."
    )


@strawberry.input(description="A patient to put on the waitlist.")
class CreateWaitlistEntryInput:
    patient_id: int = strawberry.field(description="The patient waiting.")
    start_date: date = strawberry.field(description="First clinic day wanted.")
    end_date: date = strawberry.field(
        description="Last clinic day wanted (inclusive; at most 366 days on)."
    )
    provider_id: int | None = strawberry.field(default=None, description="Any provider if null.")
    appointment_type: str | None = strawberry.field(
        default=None, description="Any appointment type if null."
    )
    offer_seconds: int | None = strawberry.field(
        default=None, description="60 to 86400; how long an offered hold lasts (900 if null)."
    )


@strawberry.type(description="The entry deleteWaitlistEntry took off the waitlist.")
class DeleteWaitlistEntryPayload:
    id: int = strawberry.field(description="The entry's id.")
    status: WaitlistStatus = strawberry.field(description="CANCELLED, or how it had ended.")


def _cursor(row: EntryRow) -> tuple[int]:
    return (row.id,)


@strawberry.type
class WaitlistQuery:
    @strawberry.field(description="Waitlist entries in queue order (first come first).")
    async def waitlist_entries(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            WaitlistEntryFilter | None,
            strawberry.argument(description="Which items; all when not given."),
        ] = None,
    ) -> Connection[WaitlistEntry]:
        await info.context.require_admin()
        wanted = filter or WaitlistEntryFilter()
        window = page_window(first, info.context.settings, after=after, last=last, before=before)
        page = await waitlist_ops.list_entries(
            info.context.session,
            WaitlistFilters(
                patient_id=wanted.patient_id,
                provider_id=wanted.provider_id,
                status=StatusRow(enum_text(wanted.status)) if wanted.status else None,
            ),
            page=window.request,
            after_id=decode_id_cursor(window.cursor, window.cursor_field),
            backward=window.backward,
        )
        return connection(page, window, WaitlistEntry.from_row, _cursor)

    @strawberry.field(description="One waitlist entry by id.")
    async def waitlist_entry(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The entry's id.")],
    ) -> WaitlistEntry:
        await info.context.require_admin()
        return WaitlistEntry.from_row(await waitlist_ops.get_entry(info.context.session, id))


@strawberry.type
class WaitlistMutation:
    @strawberry.mutation(
        description="Put a patient on the waitlist: the next matching seat that opens is "
        "offered to the earliest waiting entry through a hold (event waitlist.offered)."
    )
    async def create_waitlist_entry(
        self,
        info: Info[Context, None],
        input: Annotated[
            CreateWaitlistEntryInput, strawberry.argument(description="The fields to write.")
        ],
    ) -> WaitlistEntry:
        await info.context.require_admin()
        row = await waitlist_ops.create_entry(
            info.context.session,
            WaitlistInput(
                patient_id=input.patient_id,
                provider_id=input.provider_id,
                appointment_type=input.appointment_type,
                start_date=input.start_date,
                end_date=input.end_date,
                offer_seconds=input.offer_seconds,
            ),
            zone=info.context.settings.clinic_zone,
        )
        return WaitlistEntry.from_row(row)

    @strawberry.mutation(
        description="Take a patient off the waitlist; an offer the entry holds is released "
        "and passes to the next matching entry."
    )
    async def delete_waitlist_entry(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The entry's id.")],
    ) -> DeleteWaitlistEntryPayload:
        await info.context.require_admin()
        row = await waitlist_ops.cancel_entry(info.context.session, id)
        return DeleteWaitlistEntryPayload(id=row.id, status=WaitlistStatus(row.status.value))
