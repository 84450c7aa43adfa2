"""External calendars over GraphQL: the same operations as the REST face."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from common.calendars import PROCESS_OWNER, secret_box, sync_options
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
from gql.types import Node
from models.integrations import calendar_sync
from models.integrations import external_calendars as ops
from models.integrations.external_calendars import BusySlots, ExternalCalendarInput
from models.platform.calendar_tables import ExternalCalendar as CalendarRow


@strawberry.enum(description="Where an external calendar is read from.")
class ExternalCalendarKind(Enum):
    ICAL = strawberry.enum_value("ical", description="An iCalendar (.ics) URL.")
    CALDAV = strawberry.enum_value("caldav", description="A CalDAV calendar collection.")


@strawberry.enum(description="How an external calendar's syncs go.")
class ExternalCalendarStatus(Enum):
    PENDING = strawberry.enum_value("pending", description="Not read yet.")
    OK = strawberry.enum_value("ok", description="The last read worked.")
    FAILING = strawberry.enum_value(
        "failing", description="The last read failed; busy time is as last read."
    )


def status_of(row: CalendarRow) -> ExternalCalendarStatus:
    if row.last_error is not None:
        return ExternalCalendarStatus.FAILING
    return ExternalCalendarStatus.OK if row.last_synced_at else ExternalCalendarStatus.PENDING


@strawberry.type(
    description="A provider's calendar kept elsewhere: its busy time closes their slots here."
)
class ExternalCalendar(Node):
    id: int = strawberry.field(description="The external calendar's id.")
    provider_id: int = strawberry.field(description="The provider whose busy time it holds.")
    kind: ExternalCalendarKind = strawberry.field(description="iCalendar URL or CalDAV.")
    name: str | None = strawberry.field(description="A name for the admins.")
    url: str = strawberry.field(
        description="The CalDAV URL, or only the origin of an iCalendar URL (its path is "
        "often its key). The full address and the password are never returned."
    )
    username: str | None = strawberry.field(description="The user it signs in as, if any.")
    sync_interval_seconds: int = strawberry.field(description="How often it is read.")
    status: ExternalCalendarStatus = strawberry.field(description="How its syncs go.")
    last_synced_at: datetime | None = strawberry.field(description="The last read that worked.")
    last_attempt_at: datetime | None = strawberry.field(description="The last read tried.")
    last_error: str | None = strawberry.field(
        description="Why the last read failed; null when it worked."
    )
    consecutive_failures: int = strawberry.field(description="Failed reads in a row.")
    next_sync_at: datetime = strawberry.field(description="When it is read next.")
    blocked_slot_ids: list[int] = strawberry.field(
        description="The provider's slots its busy time closes (no active booking)."
    )
    booked_slot_ids: list[int] = strawberry.field(
        description="Slots inside its busy time with an active booking, left for the admin."
    )
    created_at: datetime = strawberry.field(description="When it was connected.")
    updated_at: datetime = strawberry.field(description="When its settings last changed.")

    @classmethod
    def from_row(cls, row: CalendarRow, slots: BusySlots) -> ExternalCalendar:
        return cls(
            id=row.id,
            provider_id=row.provider_id,
            kind=ExternalCalendarKind(row.kind),
            name=row.name,
            url=row.display_url,
            username=row.username,
            sync_interval_seconds=row.sync_interval_seconds,
            status=status_of(row),
            last_synced_at=row.last_synced_at,
            last_attempt_at=row.last_attempt_at,
            last_error=row.last_error,
            consecutive_failures=row.consecutive_failures,
            next_sync_at=row.next_sync_at,
            blocked_slot_ids=slots.blocked_slot_ids,
            booked_slot_ids=slots.booked_slot_ids,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.input(description="An external calendar to connect to a provider.")
class CreateExternalCalendarInput:
    provider_id: int = strawberry.field(description="The provider whose busy time it holds.")
    kind: ExternalCalendarKind = strawberry.field(description="iCalendar URL or CalDAV.")
    url: str = strawberry.field(
        description="http(s) or webcal URL: the feed, or the CalDAV calendar collection. "
        "Stored encrypted; must reach a public address unless "
        "CALENDAR_ALLOW_PRIVATE_TARGETS is set."
    )
    username: str | None = strawberry.field(
        default=None, description="The user to sign in as, if the server asks."
    )
    password: str | None = strawberry.field(
        default=None, description="Password or app token; stored encrypted, never returned."
    )
    name: str | None = strawberry.field(default=None, description="At most 200 characters.")
    sync_interval_seconds: int | None = strawberry.field(
        default=None,
        description="60 to 86400; CALENDAR_SYNC_INTERVAL_SECONDS (300) when not given.",
    )


@strawberry.type(description="The external calendar deleteExternalCalendar disconnected.")
class DeleteExternalCalendarPayload:
    id: int = strawberry.field(description="The disconnected calendar's id.")
    deleted: bool = strawberry.field(description="Always true.")


async def load_external_calendar(context: Context, id: int) -> ExternalCalendar:
    """One calendar with its slots (the caller checked the caller)."""
    session = context.session
    row = await ops.get_external_calendar(session, None, id)
    slots = await ops.slots_of(session, [row])
    return ExternalCalendar.from_row(row, slots[row.id])


@strawberry.type
class ExternalCalendarQuery:
    @strawberry.field(description="A provider's external calendars, in the order connected.")
    async def external_calendars(
        self,
        info: Info[Context, None],
        provider_id: Annotated[int, strawberry.argument(description="The provider's id.")],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[ExternalCalendar]:
        await info.context.require_admin()
        window = page_window(first, info.context.settings, after=after, last=last, before=before)
        session = info.context.session
        page = await ops.list_external_calendars(
            session,
            provider_id,
            page=window.request,
            after=decode_id_cursor(window.cursor, window.cursor_field),
            backward=window.backward,
        )
        slots = await ops.slots_of(session, page.items)
        return connection(
            page,
            window,
            lambda row: ExternalCalendar.from_row(row, slots[row.id]),
            lambda row: (row.id,),
        )

    @strawberry.field(description="One external calendar by id.")
    async def external_calendar(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The external calendar's id.")],
    ) -> ExternalCalendar:
        await info.context.require_admin()
        return await load_external_calendar(info.context, id)


@strawberry.type
class ExternalCalendarMutation:
    @strawberry.mutation(
        description="Connect an external calendar; its busy time closes the provider's "
        "overlapping slots once read (at once in the background, then on its interval)."
    )
    async def create_external_calendar(
        self,
        info: Info[Context, None],
        input: Annotated[
            CreateExternalCalendarInput, strawberry.argument(description="The fields to write.")
        ],
    ) -> ExternalCalendar:
        await info.context.require_admin()
        settings = info.context.settings
        session = info.context.session
        row = await ops.create_external_calendar(
            session,
            input.provider_id,
            ExternalCalendarInput(
                kind=input.kind.value,
                url=input.url,
                username=input.username,
                password=input.password,
                name=input.name,
                sync_interval_seconds=input.sync_interval_seconds,
            ),
            box=secret_box(settings),
            allow_private=settings.calendar_allow_private_targets,
            default_interval=settings.calendar_sync_interval_seconds,
        )
        slots = await ops.slots_of(session, [row])
        return ExternalCalendar.from_row(row, slots[row.id])

    @strawberry.mutation(
        description="Disconnect an external calendar; the slots its busy time closed reopen "
        "unless closed otherwise."
    )
    async def delete_external_calendar(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The external calendar's id.")],
    ) -> DeleteExternalCalendarPayload:
        await info.context.require_admin()
        await ops.delete_external_calendar(info.context.session, None, id)
        return DeleteExternalCalendarPayload(id=id, deleted=True)

    @strawberry.mutation(
        description="Read an external calendar now; a failed read shows in lastError (its "
        "busy time stays as last read). CONFLICT while another process reads it."
    )
    async def sync_external_calendar(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The external calendar's id.")],
    ) -> ExternalCalendar:
        await info.context.require_admin()
        settings = info.context.settings
        await calendar_sync.sync_now(
            info.context.session,
            None,
            id,
            box=secret_box(settings),
            options=sync_options(settings),
            owner=PROCESS_OWNER,
        )
        return await load_external_calendar(info.context, id)
