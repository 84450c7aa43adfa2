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
from common.public_url import public_base
from common.settings import Settings
from common.strict_numbers import plain_id, plain_number
from common.tokens import CHALLENGE, request_token
from models.integrations.fhir_feed import (
    STATUSES,
    PublishedSlot,
    SlotQuery,
    active_providers,
    offered_types,
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
    open_operation,
)

router = APIRouter(prefix="/fhir", tags=["FHIR"])

# R4 (4.0.1 is its technical correction; the R4 JSON schema names the version 4.0.0).
FHIR_VERSION = "4.0.0"
# What a client may ask for (Accept or _format) and get JSON: FHIR's own names for JSON,
# the generic ones, and wildcards. Anything else (XML, Turtle) is 406.
JSON_FORMATS = frozenset(
    {"json", "application/json", FHIR_JSON, "application/json+fhir", "*/*", "application/*"}
)
NDJSON_FORMATS = frozenset({NDJSON, "application/ndjson", "application/x-ndjson"})
# Where the appointment-type codes of Schedule.serviceType and Slot.serviceType are defined.
SERVICE_TYPE_SYSTEM = "/v1/admin/clinic/availability/appointment_types"
DEFAULT_COUNT = 100
MAX_COUNT = 1000


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


def _wanted(request: Request) -> list[str]:
    """The media types a request accepts, from ``_format`` if given, else ``Accept``."""
    formats = request.query_params.getlist("_format")
    if formats:
        return [value.strip().lower() for value in formats]
    accept = request.headers.get("accept", "")
    return [part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()] or [
        "*/*"
    ]


def _negotiate(request: Request, *, ndjson: bool = False) -> None:
    allowed = JSON_FORMATS | NDJSON_FORMATS if ndjson else JSON_FORMATS
    if not any(media in allowed for media in _wanted(request)):
        raise FhirProblem(406, "not-supported", "Only JSON is supported (application/fhir+json)")


async def _allow(
    request: Request, session: Any, settings: Settings, *, ndjson: bool = False
) -> None:
    _negotiate(request, ndjson=ndjson)
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


def _service_base(request: Request, settings: Settings) -> str:
    return public_base(settings, request.base_url)


def _base(request: Request, settings: Settings) -> str:
    return _service_base(request, settings) + "/fhir"


def _service_type(system: str, key: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": key}], "text": key}


def schedule_resource(provider: Any, service_types: list[str], system: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
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
    if service_types:
        resource["serviceType"] = [_service_type(system, key) for key in service_types]
    return resource


def slot_resource(slot: PublishedSlot, system: str, *, bulk: bool = False) -> dict[str, Any]:
    """A Slot; in SMART Scheduling Links bulk files the status is only free or busy."""
    resource: dict[str, Any] = {
        "resourceType": "Slot",
        "id": str(slot.id),
        "schedule": {"reference": f"Schedule/{slot.provider_id}"},
        "status": slot.state.published_status if bulk else slot.state.fhir_status,
        "start": format_timestamp(slot.start_time),
        "end": format_timestamp(slot.end_time),
    }
    if slot.appointment_type is not None:
        resource["serviceType"] = [_service_type(system, slot.appointment_type)]
    return resource


async def _schedules(request: Request, session: Any, settings: Settings) -> list[dict[str, Any]]:
    """Every active provider's Schedule, with the types its slots up to the horizon offer."""
    now = now_utc()
    offered = await offered_types(
        session, since=now, until=now + timedelta(days=settings.recurrence_horizon_days)
    )
    system = _service_base(request, settings) + SERVICE_TYPE_SYSTEM
    return [
        schedule_resource(provider, offered.get(provider.id, []), system)
        for provider in await active_providers(session)
    ]


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
    number = plain_number(raw, maximum)
    if number is None:
        raise FhirProblem(400, "invalid", f"{name} must be a whole number up to {maximum}")
    return number


def _read_id(raw: str) -> int:
    """A read's logical id: one that can't name a record is simply not found."""
    ident = plain_id(raw)
    if ident is None:
        raise FhirProblem(404, "not-found", NotFound.message)
    return ident


def _schedule_id(raw: str) -> int:
    ident = plain_id(raw.removeprefix("Schedule/"))
    if ident is None:
        raise FhirProblem(400, "invalid", "schedule must be Schedule/<id>")
    return ident


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


def _groups(request: Request, name: str) -> list[list[str]]:
    """A parameter's occurrences, each split on commas: FHIR ORs the values of one
    occurrence and ANDs the occurrences."""
    return [
        [part.strip() for part in value.split(",") if part.strip()]
        for value in request.query_params.getlist(name)
    ]


def _statuses(request: Request) -> tuple[frozenset[str], ...]:
    groups = _groups(request, "status")
    if any(status not in STATUSES for group in groups for status in group):
        raise FhirProblem(400, "invalid", "status must be free, busy or busy-unavailable")
    return tuple(frozenset(group) for group in groups if group)


def _schedules_param(request: Request) -> tuple[frozenset[int], ...]:
    return tuple(
        frozenset(_schedule_id(ident) for ident in group)
        for group in _groups(request, "schedule")
        if group
    )


@router.get(
    "/Schedule",
    **fhir_operation("Schedules: one per active provider", FHIR_JSON, BUNDLE),
)
async def schedules(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    try:
        await _allow(request, session, settings)
        resources = await _schedules(request, session, settings)
    except FhirProblem as problem:
        return outcome(problem)
    base = _base(request, settings)
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
        ident = _read_id(schedule_id)
        found = [s for s in await _schedules(request, session, settings) if s["id"] == str(ident)]
        if not found:
            raise FhirProblem(404, "not-found", NotFound.message)
    except FhirProblem as problem:
        return outcome(problem)
    return _json(found[0])


@router.get(
    "/Slot",
    **fhir_operation("Slots, searched", FHIR_JSON, BUNDLE, 400, parameters=SLOT_PARAMETERS),
)
async def slots(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    try:
        await _allow(request, session, settings)
        query = SlotQuery(
            provider_ids=_schedules_param(request),
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
    system = _service_base(request, settings) + SERVICE_TYPE_SYSTEM
    resources = [slot_resource(slot, system) for slot in found]
    return _json(searchset(_base(request, settings), resources, total, links))


@router.get("/Slot/{slot_id}", **fhir_operation("One slot", FHIR_JSON, RESOURCE, 404))
async def slot(
    slot_id: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    try:
        await _allow(request, session, settings)
        query = SlotQuery(slot_id=_read_id(slot_id))
        found, _ = await published_slots(session, query, limit=1, count=False)
        if not found:
            raise FhirProblem(404, "not-found", NotFound.message)
    except FhirProblem as problem:
        return outcome(problem)
    return _json(slot_resource(found[0], _service_base(request, settings) + SERVICE_TYPE_SYSTEM))


@router.get("/metadata", **open_operation("The CapabilityStatement", RESOURCE))
async def metadata(request: Request, settings: SettingsDep) -> Response:
    """The CapabilityStatement: what this server supports. Open to anyone, as FHIR expects."""
    try:
        _negotiate(request)
    except FhirProblem as problem:
        return outcome(problem)
    return _json(capability_statement(_base(request, settings)))


def capability_statement(base: str) -> dict[str, Any]:
    read_and_search = [{"code": "read"}, {"code": "search-type"}]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": format_timestamp(now_utc())[:10],
        "publisher": "Clinic Availability",
        "kind": "instance",
        "software": {"name": "Clinic Availability"},
        "implementation": {"description": "Provider schedules and slots", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["json", FHIR_JSON],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "An admin token as X-User-Token or Authorization: Bearer, "
                    "unless the server publishes its feed openly (FHIR_PUBLIC)."
                },
                "resource": [
                    {
                        "type": "Schedule",
                        "interaction": read_and_search,
                        "searchParam": [],
                    },
                    {
                        "type": "Slot",
                        "interaction": read_and_search,
                        "searchParam": [
                            {"name": "schedule", "type": "reference"},
                            {"name": "start", "type": "date"},
                            {"name": "status", "type": "token"},
                            {"name": "_count", "type": "number"},
                            {"name": "_offset", "type": "number"},
                        ],
                    },
                ],
                "operation": [
                    {
                        "name": "bulk-publish",
                        "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/"
                        "bulk-publish",
                    }
                ],
            }
        ],
    }


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
    base = _base(request, settings)
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
        await _allow(request, session, settings, ndjson=True)
    except FhirProblem as problem:
        return outcome(problem)
    lines = [orjson.dumps(item) for item in await _schedules(request, session, settings)]
    return Response(b"".join(line + b"\n" for line in lines), media_type=NDJSON)


@router.get(
    "/$bulk-publish/Slot.ndjson",
    **fhir_operation("Every Slot up to the horizon", NDJSON, {"type": "string"}),
)
async def bulk_slots(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Every slot from now up to the recurrence horizon, streamed in pages."""
    try:
        await _allow(request, session, settings, ndjson=True)
    except FhirProblem as problem:
        return outcome(problem)
    now = now_utc()
    horizon = now + timedelta(days=settings.recurrence_horizon_days)
    query = SlotQuery(start_bounds=(("ge", now), ("lt", horizon)))

    sessionmaker = request.app.state.sessionmaker
    system = _service_base(request, settings) + SERVICE_TYPE_SYSTEM

    async def lines() -> AsyncIterator[bytes]:
        # A session of the stream's own: the request's closes before the body is sent.
        async with sessionmaker() as own:
            offset = 0
            while True:
                page, _total = await published_slots(
                    own, query, limit=MAX_COUNT, offset=offset, count=False
                )
                for item in page:
                    yield orjson.dumps(slot_resource(item, system, bulk=True)) + b"\n"
                if len(page) < MAX_COUNT:
                    return
                offset += MAX_COUNT

    return StreamingResponse(lines(), media_type=NDJSON)


@router.api_route(
    "/{anything:path}",
    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    include_in_schema=False,
)
async def unknown(anything: str, request: Request) -> Response:
    """Whatever else is asked under /fhir: FHIR's own error, not the legacy one."""
    path = request.url.path
    served = [
        route
        for route in router.routes
        if getattr(route, "endpoint", None) is not unknown
        and getattr(route, "path_regex", None) is not None
        and route.path_regex.match(path)  # type: ignore[attr-defined]
    ]
    if served:
        response = outcome(FhirProblem(405, "not-supported", "Only GET is supported here"))
        response.headers["allow"] = "GET"
        return response
    return outcome(FhirProblem(404, "not-found", f"{NotFound.message}: not a supported FHIR path"))
