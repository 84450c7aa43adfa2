"""FHIR R4 read-only face under /fhir: Schedule, Slot and the SMART Scheduling Links feed.

FHIR's own conventions, not the legacy ones: ``application/fhir+json``, searchset Bundles,
errors as OperationOutcome (400 for a bad search parameter). An admin token is needed
unless ``FHIR_PUBLIC=true``; nothing here carries patient data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from common.deps import SessionDep, SettingsDep
from common.settings import Settings
from common.tokens import CHALLENGE, request_token
from models.integrations.fhir_feed import (
    STATUSES,
    PublishedSlot,
    SlotQuery,
    active_providers,
    published_slots,
)
from models.platform.errors import DomainError, Forbidden, NotFound
from models.platform.timeutil import (
    day_end,
    day_start,
    format_timestamp,
    now_utc,
    parse_date,
    parse_timestamp,
)
from models.platform.users import authenticate
from rest_compat.fhir_openapi import (
    BUNDLE,
    FHIR_JSON,
    MANIFEST,
    NDJSON,
    RESOURCE,
    SLOT_PARAMETERS,
    fhir_operation,
)

router = APIRouter(prefix="/fhir", tags=["FHIR"])
DEFAULT_COUNT = 100
MAX_COUNT = 1000
MAX_ID = 2**31 - 1


class FhirProblem(Exception):
    def __init__(self, status: int, code: str, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.status, self.code, self.diagnostics = status, code, diagnostics


def _json(body: Any, status: int = 200, media_type: str = FHIR_JSON) -> Response:
    headers = CHALLENGE if status == 401 else None
    return Response(orjson.dumps(body), status_code=status, media_type=media_type, headers=headers)


def outcome(problem: FhirProblem) -> Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": problem.code, "diagnostics": problem.diagnostics}],
    }
    return _json(body, problem.status)


async def _allow(request: Request, session: Any, settings: Settings) -> None:
    if settings.fhir_public:
        return
    try:
        await authenticate(
            session, request_token(request), cache_seconds=settings.token_cache_seconds
        )
    except Forbidden:
        raise FhirProblem(403, "forbidden", "Admin access required") from None
    except DomainError:
        raise FhirProblem(401, "login", "Authentication required") from None


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def schedule_resource(provider: Any) -> dict[str, Any]:
    return {
        "resourceType": "Schedule",
        "id": str(provider.id),
        "active": True,
        "actor": [
            {
                "reference": f"Practitioner/{provider.id}",
                "display": f"{provider.first_name} {provider.last_name}",
            }
        ],
    }


def slot_resource(slot: PublishedSlot) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Slot",
        "id": str(slot.id),
        "schedule": {"reference": f"Schedule/{slot.provider_id}"},
        "status": slot.state.fhir_status,
        "start": format_timestamp(slot.start_time),
        "end": format_timestamp(slot.end_time),
    }
    if slot.appointment_type is not None:
        resource["serviceType"] = [{"text": slot.appointment_type}]
    return resource


def searchset(
    base: str, resources: list[dict[str, Any]], total: int, links: dict[str, str]
) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": [{"relation": relation, "url": url} for relation, url in links.items()],
        "entry": [
            {
                "fullUrl": f"{base}/{item['resourceType']}/{item['id']}",
                "resource": item,
                "search": {"mode": "match"},
            }
            for item in resources
        ],
    }


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 0 <= int(raw) <= maximum:
        raise FhirProblem(400, "invalid", f"{name} must be a whole number up to {maximum}")
    return int(raw)


def _schedule_id(raw: str) -> int:
    ident = raw.removeprefix("Schedule/")
    if not ident.isdigit() or not 1 <= int(ident) <= MAX_ID:
        raise FhirProblem(400, "invalid", "schedule must be Schedule/<id>")
    return int(ident)


def _start_bounds(values: list[str], settings: Settings) -> list[tuple[str, datetime]]:
    """FHIR date search on the slot start: ge/gt/le/lt/eq with a day or an instant."""
    zone = settings.clinic_zone
    bounds: list[tuple[str, datetime]] = []
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
        if prefix not in ("eq", "ge", "gt", "le", "lt"):
            raise FhirProblem(400, "invalid", "start prefix must be eq, ge, gt, le or lt")
        day = parse_date(text) if len(text) == 10 else None
        instant = None if day is not None else parse_timestamp(text)
        if day is None and instant is None:
            raise FhirProblem(400, "invalid", "start must be a date or an instant")
        if day is not None:
            low, high = day_start(day, zone), day_end(day, zone)
        else:
            assert instant is not None
            low, high = instant, instant + timedelta(seconds=1)
        bounds += {
            "eq": [("ge", low), ("lt", high)],
            "ge": [("ge", low)],
            "gt": [("ge", high)],
            "le": [("lt", high)],
            "lt": [("lt", low)],
        }[prefix]
    return bounds


def _statuses(request: Request) -> tuple[str, ...]:
    wanted = [
        part.strip()
        for value in request.query_params.getlist("status")
        for part in value.split(",")
        if part.strip()
    ]
    unknown = [status for status in wanted if status not in STATUSES]
    if unknown:
        raise FhirProblem(400, "invalid", "status must be free, busy or busy-unavailable")
    return tuple(dict.fromkeys(wanted))


@router.get(
    "/Schedule",
    **fhir_operation("Schedules: one per active provider", FHIR_JSON, BUNDLE),
)
async def schedules(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    try:
        await _allow(request, session, settings)
        providers = await active_providers(session)
    except FhirProblem as problem:
        return outcome(problem)
    resources = [schedule_resource(provider) for provider in providers]
    base = _base(request)
    return _json(searchset(base, resources, len(resources), {"self": str(request.url)}))


@router.get(
    "/Schedule/{schedule_id}",
    **fhir_operation("One provider's Schedule", FHIR_JSON, RESOURCE, 400, 404),
)
async def schedule(
    schedule_id: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    try:
        await _allow(request, session, settings)
        ident = _schedule_id(schedule_id)
        found = [p for p in await active_providers(session) if p.id == ident]
        if not found:
            raise FhirProblem(404, "not-found", NotFound.message)
    except FhirProblem as problem:
        return outcome(problem)
    return _json(schedule_resource(found[0]))


@router.get(
    "/Slot",
    **fhir_operation("Slots, searched", FHIR_JSON, BUNDLE, 400, parameters=SLOT_PARAMETERS),
)
async def slots(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    try:
        await _allow(request, session, settings)
        schedule_param = request.query_params.get("schedule")
        query = SlotQuery(
            provider_id=_schedule_id(schedule_param) if schedule_param else None,
            start_bounds=tuple(_start_bounds(request.query_params.getlist("start"), settings)),
            statuses=_statuses(request),
        )
        count = _int_param(request, "_count", DEFAULT_COUNT, MAX_COUNT)
        offset = _int_param(request, "_offset", 0, 10_000_000)
        found, total = await published_slots(session, query, limit=count, offset=offset)
    except FhirProblem as problem:
        return outcome(problem)
    links = {"self": str(request.url)}
    if offset + count < total:
        links["next"] = str(request.url.include_query_params(_offset=offset + count))
    resources = [slot_resource(slot) for slot in found]
    return _json(searchset(_base(request), resources, total, links))


@router.get(
    "/$bulk-publish",
    **fhir_operation("SMART Scheduling Links manifest", "application/json", MANIFEST),
)
async def bulk_publish(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The SMART Scheduling Links manifest."""
    try:
        await _allow(request, session, settings)
    except FhirProblem as problem:
        return outcome(problem)
    base = _base(request)
    manifest = {
        "transactionTime": format_timestamp(now_utc()),
        "request": f"{base}/$bulk-publish",
        "output": [
            {"type": "Schedule", "url": f"{base}/$bulk-publish/Schedule.ndjson"},
            {"type": "Slot", "url": f"{base}/$bulk-publish/Slot.ndjson"},
        ],
        "error": [],
    }
    return _json(manifest, media_type="application/json")


@router.get(
    "/$bulk-publish/Schedule.ndjson",
    **fhir_operation("Every Schedule, one a line", NDJSON, {"type": "string"}),
)
async def bulk_schedules(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    try:
        await _allow(request, session, settings)
    except FhirProblem as problem:
        return outcome(problem)
    lines = [orjson.dumps(schedule_resource(p)) for p in await active_providers(session)]
    return Response(b"".join(line + b"\n" for line in lines), media_type=NDJSON)


@router.get(
    "/$bulk-publish/Slot.ndjson",
    **fhir_operation("Every Slot up to the horizon", NDJSON, {"type": "string"}),
)
async def bulk_slots(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Every slot from now up to the recurrence horizon, streamed in pages."""
    try:
        await _allow(request, session, settings)
    except FhirProblem as problem:
        return outcome(problem)
    now = now_utc()
    horizon = now + timedelta(days=settings.recurrence_horizon_days)
    query = SlotQuery(start_bounds=(("ge", now), ("lt", horizon)))

    sessionmaker = request.app.state.sessionmaker

    async def lines() -> AsyncIterator[bytes]:
        # A session of the stream's own: the request's closes before the body is sent.
        async with sessionmaker() as own:
            offset = 0
            while True:
                page, _total = await published_slots(own, query, limit=MAX_COUNT, offset=offset)
                for slot in page:
                    yield orjson.dumps(slot_resource(slot)) + b"\n"
                if len(page) < MAX_COUNT:
                    return
                offset += MAX_COUNT

    return StreamingResponse(lines(), media_type=NDJSON)
