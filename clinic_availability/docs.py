"""The REST reference at ``/docs``: self-hosted Swagger UI over ``/openapi.json``.

FastAPI's generated document is completed here where it is generic: its default 422
body (``HTTPValidationError``) is not what the service answers, list routes say nothing of
their pagination headers, and some operations would lack the contract's error bodies or
the documented request examples.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from html import escape
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse

from clinic_availability.pages import STATIC_PATH, page_response, root_path, script_json
from models.platform.timeutil import now_utc
from rest_compat.router import BASE_PATH

SECURITY_SCHEME = "APIKeyHeader"
ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorMessage"}
FIELD_ERRORS_SCHEMA = {"$ref": "#/components/schemas/FieldErrorsOut"}

# The contract's error bodies, by status, for operations that do not describe their own.
STANDARD_ERRORS: dict[str, tuple[str, dict[str, Any], Any]] = {
    "401": ("No, unknown, expired or revoked token", ERROR_SCHEMA, "Authentication required"),
    "403": ("The token's user is not an admin", ERROR_SCHEMA, "Admin access required"),
    "422": (
        "Field validation failed",
        FIELD_ERRORS_SCHEMA,
        {"provider_id": ["can't be blank"], "start_time": ["must be in the future"]},
    ),
    "500": ("Unexpected failure (no details are given)", ERROR_SCHEMA, "Internal server error"),
}

PAGINATION_HEADERS: dict[str, dict[str, Any]] = {
    "X-Total-Count": {"description": "Items matching the filters, all pages"},
    "X-Page": {"description": "This page's number, from 1"},
    "X-Page-Size": {"description": "Items per page"},
    "X-Total-Pages": {"description": "Number of pages"},
    "Link": {
        "description": 'RFC 8288 links: `<...?page=2&page_size=25>; rel="next"`, '
        "and `prev`, `first`, `last`",
    },
}

# Request and response examples of the legacy documentation, by route (under BASE_PATH).
DOCUMENTED_REQUESTS: dict[tuple[str, str], Any] = {
    ("post", "/available_slots"): {
        "available_slot": {
            "provider_id": 456,
            "start_time": "2030-10-27T14:00:00.000Z",
            "end_time": "2030-10-27T15:00:00.000Z",
            "appointment_type": "therapy",
            "recurring": True,
            "recurrence_pattern": "weekly",
        }
    },
    ("post", "/providers/available_slots/create_in_batch"): {
        "provider_id": 456,
        "slots": [
            {
                "start_time": "2030-10-27T09:00:00.000Z",
                "end_time": "2030-10-27T10:00:00.000Z",
                "appointment_type": "therapy",
            },
            {
                "start_time": "2030-10-27T10:00:00.000Z",
                "end_time": "2030-10-27T11:00:00.000Z",
                "appointment_type": "therapy",
            },
        ],
    },
    ("delete", "/providers/available_slots/destroy_in_batch"): {
        "provider_id": 456,
        "slot_ids": [789, 790],
    },
    ("post", "/books"): {
        "book": {
            "available_slot_id": 789,
            "patient_id": 1049,
            "appointment_type": "therapy",
            "notes": "Initial consultation",
        }
    },
}
DOCUMENTED_RESPONSES: dict[tuple[str, str], Any] = {
    ("post", "/providers/available_slots/create_in_batch"): {
        "created_slots": 2,
        "failed_slots": 0,
        "slot_ids": [789, 790],
        "errors": [],
    },
    ("post", "/books"): {
        "id": 123,
        "available_slot_id": 789,
        "patient_id": 1049,
        "appointment_type": "therapy",
        "notes": "Initial consultation",
        "status": "confirmed",
        "created_at": "2023-10-27T12:00:00.000Z",
        "updated_at": "2023-10-27T12:00:00.000Z",
    },
}


def documented_queries(today: date) -> dict[tuple[str, str], dict[str, Any]]:
    """Query examples *Try it out* pre-fills: the demo clinic's first provider, and days
    the demo has slots on (it keeps the coming two weeks filled)."""
    tomorrow = (today + timedelta(days=1)).isoformat()
    return {
        ("get", "/available_slots"): {"provider_id": 1, "start_date": today.isoformat()},
        ("get", "/available_slots/search"): {"provider_id": 1, "date": tomorrow},
        ("get", "/providers/available_slots"): {"start_date": today.isoformat()},
    }


# The routes of the legacy documentation, first in /docs; the additions follow.
DOCUMENTED_TAGS = ("Available slots", "Provider available slots", "Books")

DESCRIPTION = """\
Publish when providers are available and book patients into those slots.

**Authentication.** Every route needs an admin user's token in the `X-User-Token` header,
or as `Authorization: Bearer <token>` (`clinic-availability serve --demo` prints one on
start; `clinic-availability create-user --role admin` makes more). A 401 carries
`WWW-Authenticate: Bearer`. Use **Authorize** to set it for *Try it out* (either scheme).

**Errors.** Every error body has an `errors` key: a message, or for 422 the failing fields
with their messages. 401: no or bad token; 403: not an admin; 404: unknown record;
409: overlapping or unavailable slot (may list `conflicts`); 500: unexpected failure.

**Lists** are bare JSON arrays; `X-Total-Count`, `X-Page`, `X-Page-Size`, `X-Total-Pages`
and `Link` headers carry the pagination. Timestamps are UTC with milliseconds:
`2023-10-27T14:00:00.000Z`.

GraphQL (same operations, same error codes) is at [/graphql](/graphql).
"""


def _is_legacy(path: str) -> bool:
    return path.startswith(BASE_PATH)


def _json_content(operation_part: dict[str, Any]) -> dict[str, Any] | None:
    content = operation_part.get("content", {})
    json_content: dict[str, Any] | None = content.get("application/json")
    return json_content


def _error_response(status: str) -> dict[str, Any]:
    description, schema, errors = STANDARD_ERRORS[status]
    return {
        "description": description,
        "content": {"application/json": {"schema": schema, "example": {"errors": errors}}},
    }


def _uses_default_422(response: dict[str, Any]) -> bool:
    content = _json_content(response) or {}
    ref = content.get("schema", {}).get("$ref", "")
    return str(ref).endswith("/HTTPValidationError")


def _complete_errors(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if "422" in responses and _uses_default_422(responses["422"]):
        responses["422"] = _error_response("422")
    # A route that documents its 401 but no 403 (the calendar feed: an admin token or a
    # feed key, anything else 401) never answers 403.
    if operation.get("security") and not ("401" in responses and "403" not in responses):
        for status in ("401", "403"):
            responses.setdefault(status, _error_response(status))
    responses.setdefault("500", _error_response("500"))


def _add_pagination_headers(operation: dict[str, Any]) -> None:
    ok = operation.get("responses", {}).get("200")
    content = _json_content(ok) if ok else None
    if content is None or content.get("schema", {}).get("type") != "array":
        return
    headers = ok.setdefault("headers", {}) if ok else {}
    for name, header in PAGINATION_HEADERS.items():
        headers.setdefault(name, {**header, "schema": {"type": "string"}})


def _add_examples(
    path: str, method: str, operation: dict[str, Any], queries: dict[tuple[str, str], Any]
) -> None:
    key = (method, path.removeprefix(BASE_PATH))
    body = DOCUMENTED_REQUESTS.get(key)
    request_content = _json_content(operation.get("requestBody", {}))
    if body is not None and request_content is not None:
        request_content.setdefault("example", body)
    reply = DOCUMENTED_RESPONSES.get(key)
    if reply is not None:
        responses = operation.get("responses", {})
        # A create's example is its 201; its 200 is the dry run's preview.
        status = "201" if "201" in responses else "200"
        content = _json_content(responses.get(status, {}))
        if content is not None:
            content.setdefault("example", reply)
    for parameter in operation.get("parameters", []):
        value = queries.get(key, {}).get(parameter.get("name"))
        if value is not None:
            parameter.setdefault("example", value)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _drop_unused_schemas(document: dict[str, Any]) -> None:
    """Remove FastAPI's default validation schemas once nothing refers to them."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        if name not in schemas:
            continue
        rest = {"paths": document.get("paths", {}), "schemas": {**schemas, name: None}}
        if f"#/components/schemas/{name}" not in set(_refs(rest)):
            del schemas[name]


def _one_type(parameter: dict[str, Any]) -> None:
    """A query string has no null: ``int | None`` is shown as the integer it takes."""
    schema = parameter.get("schema", {})
    kinds = schema.get("anyOf")
    if not isinstance(kinds, list):
        return
    taken = [kind for kind in kinds if kind != {"type": "null"}]
    if len(taken) == 1 and len(kinds) == 2:
        rest = {key: value for key, value in schema.items() if key != "anyOf"}
        parameter["schema"] = {**taken[0], **rest}


def _tags_of(item: dict[str, Any]) -> list[str]:
    return [
        tag
        for operation in item.values()
        if isinstance(operation, dict)
        for tag in operation.get("tags", [])
    ]


def _documented_first(document: dict[str, Any]) -> None:
    """Swagger UI draws tag sections in the order of the document's ``tags``."""
    paths: dict[str, Any] = document.get("paths", {})
    seen = [tag for item in paths.values() for tag in _tags_of(item)]
    order = [*DOCUMENTED_TAGS, *dict.fromkeys(t for t in seen if t not in DOCUMENTED_TAGS)]
    document["tags"] = [{"name": tag} for tag in order if tag in seen]

    def rank(path: str) -> int:
        tags = _tags_of(paths[path])
        return min((order.index(tag) for tag in tags), default=len(order))

    document["paths"] = {path: paths[path] for path in sorted(paths, key=rank)}


def complete_openapi(document: dict[str, Any], today: date | None = None) -> dict[str, Any]:
    """The generated document with the contract's errors, headers and examples filled in."""
    document = copy.deepcopy(document)
    queries = documented_queries(today or now_utc().date())
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            if isinstance(operation, dict):
                for parameter in operation.get("parameters", []):
                    _one_type(parameter)
        if not _is_legacy(path):
            # FHIR's path ids are text: FastAPI's generic 422 is never answered there.
            for operation in item.values():
                responses = operation.get("responses", {}) if isinstance(operation, dict) else {}
                if "422" in responses and _uses_default_422(responses["422"]):
                    del responses["422"]
            continue
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            _complete_errors(operation)
            _add_pagination_headers(operation)
            _add_examples(path, method, operation, queries)
    _documented_first(document)
    _drop_unused_schemas(document)
    return document


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with the completed, cached document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            generated = get_openapi(
                title=app.title,
                version=app.version,
                description=DESCRIPTION,
                routes=app.routes,
            )
            app.openapi_schema = complete_openapi(generated)
        return app.openapi_schema

    replace: Callable[[], dict[str, Any]] = openapi
    app.openapi = replace  # type: ignore[method-assign]


def docs_page(request: Request) -> HTMLResponse:
    base = root_path(request)
    static = escape(f"{base}{STATIC_PATH}")
    # The document travels inside the page, so the reference is drawn before the load
    # event rather than after a second request (no spinner).
    config = {"openapiUrl": f"{base}{request.app.openapi_url}", "spec": request.app.openapi()}
    return page_response(
        f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Clinic Availability · REST reference</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{static}/vendor/swagger-ui/swagger-ui.css">
<link rel="stylesheet" href="{static}/docs/docs.css">
</head>
<body>
<div id="swagger-ui">Loading the REST reference…</div>
<script id="docs-config" type="application/json">{script_json(config)}</script>
<script src="{static}/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{static}/docs/docs.js"></script>
</body>
</html>
"""
    )


def docs_router() -> APIRouter:
    router = APIRouter()

    @router.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        return docs_page(request)

    return router
