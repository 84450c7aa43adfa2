"""The six available-slot routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from common.deps import AdminDep, SessionDep, SettingsDep
from common.settings import limits_of
from common.strict_numbers import PathId
from models.platform.errors import FieldErrors
from models.platform.pagination import MAX_PAGE_SIZE
from models.scheduling import series as series_ops
from models.scheduling import slots as slot_ops
from models.scheduling.series import preview_creation
from models.scheduling.series_changes import Scope, delete_scoped, parse_scope, update_scoped
from models.scheduling.slot_documents import one_slot_document, search_document, slot_document
from models.scheduling.slots import SlotInput
from rest_compat.pagination import document_response, page_request
from rest_compat.render import slot_json
from rest_compat.responses import JSONBody, RawJSONBody
from rest_compat.schemas import (
    AUTH_ERRORS,
    MAX_ID,
    AppointmentTypeQuery,
    CreationPreviewOut,
    DateQuery,
    ScopedDeleteOut,
    ScopedUpdateOut,
    SlotBody,
    SlotChangeBody,
    SlotOut,
    error_responses,
)
from rest_compat.series import (
    DryRunParam,
    ScopeParam,
    preview_json,
    scoped_delete_json,
    scoped_update_json,
)

router = APIRouter(prefix="/available_slots", tags=["Available slots"])

SlotId = Annotated[PathId, Path(ge=1, le=MAX_ID, description="Slot id")]
PageParam = Annotated[int | None, Query(ge=1, le=1_000_000, description="Page number, from 1")]
PageSizeParam = Annotated[
    int | None, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page (default 25)")
]
ProviderParam = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Provider id")]
DateParam = Annotated[DateQuery, Query(description="YYYY-MM-DD, a day in the clinic time zone")]
AppointmentTypeParam = Annotated[AppointmentTypeQuery, Query(description="Type of appointment")]


@router.get(
    "",
    response_model=list[SlotOut],
    responses=error_responses(*AUTH_ERRORS, 422),
    summary="List available slots",
)
async def list_available_slots(
    request: Request,
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    page: PageParam = None,
    page_size: PageSizeParam = None,
    provider_id: ProviderParam = None,
    start_date: DateParam = None,
    end_date: DateParam = None,
    available: Annotated[
        bool | None,
        Query(
            description="true: bookable slots (open, a free seat, and a free resource where "
            "the slot needs one); false: the others"
        ),
    ] = None,
    appointment_type: AppointmentTypeParam = None,
) -> Response:
    errors = FieldErrors()
    paging = page_request(settings, page, page_size, errors)
    filters = await slot_ops.checked_slot_filters(
        session,
        errors,
        provider_id=provider_id,
        start_date=start_date,
        end_date=end_date,
        available=available,
        appointment_type=appointment_type,
        max_range_days=settings.max_query_range_days,
    )
    errors.raise_if_any()
    document = await slot_document(session, filters, page=paging, zone=settings.clinic_zone)
    return document_response(request, paging, document.total, document.body)


@router.get(
    "/search",
    response_model=list[SlotOut],
    responses=error_responses(*AUTH_ERRORS, 422),
    summary="Search available slots (available and in the future only)",
)
async def search_available_slots(
    request: Request,
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    provider_id: ProviderParam = None,
    date: DateParam = None,
    duration: Annotated[
        int | None, Query(ge=1, le=44640, description="Minimum length in minutes")
    ] = None,
    appointment_type: AppointmentTypeParam = None,
    page: PageParam = None,
    page_size: PageSizeParam = None,
) -> Response:
    errors = FieldErrors()
    paging = page_request(settings, page, page_size, errors)
    on_date, _ = slot_ops.check_filters(errors, start_date=date)
    if "start_date" in errors.fields:
        errors.fields["date"] = errors.fields.pop("start_date")
    errors.raise_if_any()
    document = await search_document(
        session,
        provider_id=provider_id,
        on_date=on_date,
        duration=duration,
        appointment_type=appointment_type,
        page=paging,
        zone=settings.clinic_zone,
    )
    return document_response(request, paging, document.total, document.body)


@router.post(
    "",
    status_code=201,
    response_model=SlotOut,
    responses={
        200: {"model": CreationPreviewOut, "description": "dry_run=true: nothing was written"},
        **error_responses(*AUTH_ERRORS, 409, 422),
    },
    summary="Create an available slot (or a recurring series)",
)
async def create_available_slot(
    body: SlotBody,
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    dry_run: DryRunParam = False,
) -> Response:
    data = SlotInput(**body.available_slot.sent_fields())
    limits = limits_of(settings)
    if dry_run:
        preview = await preview_creation(session, data, limits=limits)
        return JSONBody(preview_json(preview))
    slot = await series_ops.create_slot(session, data, limits=limits)
    return JSONBody(slot_json(slot), status_code=201)


@router.get(
    "/{slot_id:id}",
    response_model=SlotOut,
    responses=error_responses(*AUTH_ERRORS, 404),
    summary="Get an available slot",
)
async def get_available_slot(slot_id: SlotId, _admin: AdminDep, session: SessionDep) -> Response:
    return RawJSONBody(await one_slot_document(session, slot_id))


@router.put(
    "/{slot_id:id}",
    response_model=SlotOut | ScopedUpdateOut,
    responses=error_responses(*AUTH_ERRORS, 404, 409, 422),
    summary="Update an available slot (partial), or with `scope` several of its series",
    description="The slot; with `scope` following or series, the summary of the change.",
)
async def update_available_slot(
    slot_id: SlotId,
    body: SlotChangeBody,
    _admin: AdminDep,
    session: SessionDep,
    scope: ScopeParam = None,
) -> Response:
    data = SlotInput(**body.available_slot.sent_fields())
    chosen = parse_scope(scope)
    if chosen is not Scope.SINGLE:
        change = await update_scoped(session, slot_id, data, scope=chosen)
        return JSONBody(scoped_update_json(change))
    slot = await slot_ops.update_slot(session, slot_id, data)
    return JSONBody(slot_json(slot))


@router.delete(
    "/{slot_id:id}",
    status_code=204,
    response_class=Response,
    responses={
        200: {"model": ScopedDeleteOut, "description": "scope following or series"},
        **error_responses(*AUTH_ERRORS, 404, 409, 422),
    },
    summary="Delete an available slot (204), or with `scope` several of its series (200)",
)
async def delete_available_slot(
    slot_id: SlotId, _admin: AdminDep, session: SessionDep, scope: ScopeParam = None
) -> Response:
    chosen = parse_scope(scope)
    if chosen is not Scope.SINGLE:
        change = await delete_scoped(session, slot_id, scope=chosen)
        return JSONBody(scoped_delete_json(change))
    await slot_ops.delete_slot(session, slot_id)
    return Response(status_code=204)
