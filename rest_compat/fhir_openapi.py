"""What the OpenAPI document says of the FHIR routes: FHIR media types, their query
parameters (read by the routes themselves) and every status they answer."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

FHIR_JSON = "application/fhir+json"
NDJSON = "application/fhir+ndjson"
SECURITY: list[dict[str, list[str]]] = [{"APIKeyHeader": []}, {"HTTPBearer": []}]
MAX_ID = 2**31 - 1

RESOURCE: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string"}},
}
BUNDLE: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "type", "total", "entry"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Bundle"]},
        "type": {"type": "string", "enum": ["searchset"]},
        "total": {"type": "integer", "minimum": 0},
        "link": {"type": "array", "items": {"type": "object"}},
        "entry": {"type": "array", "items": {"type": "object"}},
    },
}
OPERATION_OUTCOME: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {"type": "array", "items": {"type": "object"}},
    },
}
MANIFEST: dict[str, Any] = {
    "type": "object",
    "required": ["transactionTime", "request", "output", "error"],
    "properties": {
        "transactionTime": {"type": "string"},
        "request": {"type": "string"},
        "output": {"type": "array", "items": {"type": "object"}},
        "error": {"type": "array"},
    },
}

PROBLEMS = {
    400: "A search parameter that cannot be read",
    401: "No, unknown, expired or revoked token (unless FHIR_PUBLIC=true)",
    403: "The token's user is not an admin",
    404: "Unknown id",
    406: "A format other than JSON asked for (Accept or _format)",
}


def _problem(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": PROBLEMS[status],
        "content": {FHIR_JSON: {"schema": OPERATION_OUTCOME}},
    }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer challenge"}
        }
    return response


class FhirJSON(Response):
    media_type = FHIR_JSON


class FhirNDJSON(Response):
    media_type = NDJSON


RESPONSE_CLASSES: dict[str, type[Response]] = {
    FHIR_JSON: FhirJSON,
    NDJSON: FhirNDJSON,
    "application/json": JSONResponse,
}


def fhir_operation(
    summary: str,
    media_type: str,
    schema: dict[str, Any],
    *problems: int,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Keyword arguments of ``router.get`` for one FHIR route."""
    ok = {"description": "OK", "content": {media_type: {"schema": schema}}}
    responses: dict[int | str, dict[str, Any]] = {200: ok}
    for status in (401, 403, 406, *problems):
        responses[status] = _problem(status)
    responses[500] = {
        "description": "Unexpected failure",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["errors"],
                    "properties": {"errors": {"type": "string"}},
                }
            }
        },
    }
    extra: dict[str, Any] = {"security": SECURITY}
    if parameters:
        extra["parameters"] = parameters
    return {
        "summary": summary,
        "responses": responses,
        "openapi_extra": extra,
        "response_class": RESPONSE_CLASSES[media_type],
    }


def open_operation(summary: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``router.get`` for a FHIR route anyone may read."""
    return {
        "summary": summary,
        "responses": {
            200: {"description": "OK", "content": {FHIR_JSON: {"schema": schema}}},
            406: _problem(406),
        },
        "openapi_extra": {"security": []},
        "response_class": FhirJSON,
    }


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


SLOT_PARAMETERS = [
    query(
        "schedule",
        {"type": "string", "pattern": "^(Schedule/)?[0-9]{1,10}$"},
        "Schedule/<id>: one provider's slots",
    ),
    query(
        "start",
        {"type": "array", "items": {"type": "string"}},
        "Slot start: a day or an instant, with a prefix eq, ge, gt, le or lt (ge2030-10-27)",
    ),
    query(
        "status",
        {"type": "string"},
        "free, busy or busy-unavailable; several comma-separated",
    ),
    query("_count", {"type": "integer", "minimum": 0, "maximum": 1000}, "Page size (100)"),
    query("_offset", {"type": "integer", "minimum": 0, "maximum": 10_000_000}, "Skip this many"),
]
