"""A provider's external calendars: busy time kept elsewhere closes their slots here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from common.calendars import PROCESS_OWNER, secret_box, sync_options
from common.deps import AdminDep, SessionDep, SettingsDep
from common.strict_numbers import PathId
from models.integrations import calendar_sync
from models.integrations import external_calendars as ops
from models.integrations.external_calendars import BusySlots, ExternalCalendarInput
from models.platform.calendar_tables import ExternalCalendar
from models.platform.errors import FieldErrors
from models.platform.pagination import MAX_PAGE_SIZE
from models.platform.timeutil import format_timestamp
from rest_compat.pagination import page_request, page_response
from rest_compat.responses import JSONBody
from rest_compat.schemas import AUTH_ERRORS, MAX_ID, error_responses

router = APIRouter(
    prefix="/providers/{provider_id}/external_calendars", tags=["External calendars"]
)

ProviderId = Annotated[PathId, Path(ge=1, le=MAX_ID, description="Provider id")]
CalendarId = Annotated[PathId, Path(ge=1, le=MAX_ID, description="External calendar id")]

EXTERNAL_CALENDAR_EXAMPLE: dict[str, Any] = {
    "id": 3,
    "provider_id": 456,
    "kind": "caldav",
    "name": "Hospital calendar",
    "url": "https://caldav.hospital.example/calendars/jsmith/work/",
    "username": "jsmith",
    "sync_interval_seconds": 300,
    "status": "ok",
    "last_synced_at": "2030-10-27T14:00:00.000Z",
    "last_attempt_at": "2030-10-27T14:00:00.000Z",
    "last_error": None,
    "consecutive_failures": 0,
    "next_sync_at": "2030-10-27T14:05:00.000Z",
    "blocked_slot_ids": [789],
    "booked_slot_ids": [],
    "created_at": "2030-10-20T10:00:00.000Z",
    "updated_at": "2030-10-20T10:00:00.000Z",
}


class ExternalCalendarOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": EXTERNAL_CALENDAR_EXAMPLE})

    id: int
    provider_id: int
    kind: str = Field(description="ical or caldav")
    name: str | None
    url: str = Field(
        description="The CalDAV URL; of an iCalendar URL only its origin (its path is often "
        "its key). The full address and the password are never returned."
    )
    username: str | None
    sync_interval_seconds: int
    status: str = Field(description="pending (never synced), ok, or failing (last read failed)")
    last_synced_at: str | None = Field(description="The last read that worked")
    last_attempt_at: str | None
    last_error: str | None = Field(description="Why the last read failed (null when it worked)")
    consecutive_failures: int
    next_sync_at: str
    blocked_slot_ids: list[int] = Field(
        description="The provider's slots its busy time closes (no active booking)"
    )
    booked_slot_ids: list[int] = Field(
        description="Slots inside its busy time with an active booking, left for the admin"
    )
    created_at: str
    updated_at: str


class ExternalCalendarFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    kind: Any = Field(default=None, description="ical or caldav", examples=["caldav"])
    url: Any = Field(
        default=None,
        description="http(s) or webcal URL: the iCalendar feed, or the CalDAV calendar "
        "collection. Stored encrypted.",
    )
    username: Any = Field(default=None, description="Basic/Digest user, if the server asks")
    password: Any = Field(
        default=None, description="Password or app token; stored encrypted, never returned"
    )
    name: Any = Field(default=None, description="At most 200 characters")
    sync_interval_seconds: Any = Field(
        default=None, description="60 to 86400; CALENDAR_SYNC_INTERVAL_SECONDS when left out"
    )


class ExternalCalendarBody(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "example": {
                "external_calendar": {
                    "kind": "caldav",
                    "url": "https://caldav.hospital.example/calendars/jsmith/work/",
                    "username": "jsmith",
                    "password": "app-token",
                    "name": "Hospital calendar",
                }
            }
        },
    )

    external_calendar: ExternalCalendarFields


def status_of(calendar: ExternalCalendar) -> str:
    if calendar.last_error is not None:
        return "failing"
    return "ok" if calendar.last_synced_at is not None else "pending"


def _moment(value: Any) -> str | None:
    return format_timestamp(value) if value is not None else None


def external_calendar_json(calendar: ExternalCalendar, slots: BusySlots) -> dict[str, Any]:
    return {
        "id": calendar.id,
        "provider_id": calendar.provider_id,
        "kind": calendar.kind,
        "name": calendar.name,
        "url": calendar.display_url,
        "username": calendar.username,
        "sync_interval_seconds": calendar.sync_interval_seconds,
        "status": status_of(calendar),
        "last_synced_at": _moment(calendar.last_synced_at),
        "last_attempt_at": _moment(calendar.last_attempt_at),
        "last_error": calendar.last_error,
        "consecutive_failures": calendar.consecutive_failures,
        "next_sync_at": format_timestamp(calendar.next_sync_at),
        "blocked_slot_ids": slots.blocked_slot_ids,
        "booked_slot_ids": slots.booked_slot_ids,
        "created_at": format_timestamp(calendar.created_at),
        "updated_at": format_timestamp(calendar.updated_at),
    }


async def _reply(session: Any, calendar: ExternalCalendar, status_code: int = 200) -> Response:
    slots = await ops.slots_of(session, [calendar])
    return JSONBody(external_calendar_json(calendar, slots[calendar.id]), status_code=status_code)


@router.get(
    "",
    response_model=list[ExternalCalendarOut],
    responses=error_responses(*AUTH_ERRORS, 404, 422),
    summary="List a provider's external calendars",
)
async def list_external_calendars(
    request: Request,
    provider_id: ProviderId,
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    page: Annotated[int | None, Query(ge=1, le=1_000_000, description="From 1")] = None,
    page_size: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
) -> Response:
    errors = FieldErrors()
    paging = page_request(settings, page, page_size, errors)
    errors.raise_if_any()
    result = await ops.list_external_calendars(session, provider_id, page=paging)
    slots = await ops.slots_of(session, result.items)
    items = [external_calendar_json(item, slots[item.id]) for item in result.items]
    return page_response(request, result, items)


@router.post(
    "",
    status_code=201,
    response_model=ExternalCalendarOut,
    responses=error_responses(*AUTH_ERRORS, 404, 422),
    summary="Connect an external calendar",
    description="An iCalendar URL (`kind: ical`) or a CalDAV calendar (`kind: caldav`). Its "
    "busy time closes the provider's overlapping slots once synced (at once in the "
    "background, then every `sync_interval_seconds`; `POST .../sync` syncs now). The URL "
    "must reach a public address unless CALENDAR_ALLOW_PRIVATE_TARGETS is set.",
)
async def create_external_calendar(
    provider_id: ProviderId,
    body: ExternalCalendarBody,
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    fields = body.external_calendar
    calendar = await ops.create_external_calendar(
        session,
        provider_id,
        ExternalCalendarInput(
            kind=fields.kind,
            url=fields.url,
            username=fields.username,
            password=fields.password,
            name=fields.name,
            sync_interval_seconds=fields.sync_interval_seconds,
        ),
        box=secret_box(settings),
        allow_private=settings.calendar_allow_private_targets,
        default_interval=settings.calendar_sync_interval_seconds,
    )
    return await _reply(session, calendar, 201)


@router.get(
    "/{calendar_id}",
    response_model=ExternalCalendarOut,
    responses=error_responses(*AUTH_ERRORS, 404),
    summary="Get an external calendar",
)
async def get_external_calendar(
    provider_id: ProviderId, calendar_id: CalendarId, _admin: AdminDep, session: SessionDep
) -> Response:
    return await _reply(session, await ops.get_external_calendar(session, provider_id, calendar_id))


@router.delete(
    "/{calendar_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(*AUTH_ERRORS, 404),
    summary="Disconnect an external calendar",
    description="Its busy time goes with it: slots it closed reopen unless closed otherwise.",
)
async def delete_external_calendar(
    provider_id: ProviderId, calendar_id: CalendarId, _admin: AdminDep, session: SessionDep
) -> Response:
    await ops.delete_external_calendar(session, provider_id, calendar_id)
    return Response(status_code=204)


@router.post(
    "/{calendar_id}/sync",
    response_model=ExternalCalendarOut,
    responses=error_responses(*AUTH_ERRORS, 404, 409),
    summary="Sync an external calendar now",
    description="Reads it at once (conditionally) and answers the calendar as it is then; a "
    "read that failed shows in `last_error` (the busy time stays as last read). 409 while "
    "another process syncs it.",
)
async def sync_external_calendar(
    provider_id: ProviderId,
    calendar_id: CalendarId,
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    await calendar_sync.sync_now(
        session,
        provider_id,
        calendar_id,
        box=secret_box(settings),
        options=sync_options(settings),
        owner=PROCESS_OWNER,
    )
    return await _reply(session, await ops.get_external_calendar(session, provider_id, calendar_id))
