"""The one mapping from domain errors (and request parsing errors) to HTTP replies."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from common.tokens import CHALLENGE, request_token
from models.platform.errors import DomainError, NotFound, ServiceUnavailable, ValidationFailed
from rest_compat.responses import JSONBody

logger = logging.getLogger("clinic_availability.errors")

ROOT_KEYS = frozenset({"body", "query", "path", "header", "available_slot", "book"})


def domain_error_response(exc: DomainError) -> JSONBody:
    headers = {"Retry-After": "1"} if isinstance(exc, ServiceUnavailable) else None
    if exc.status == 401:
        headers = CHALLENGE
    return JSONBody(exc.body(), status_code=exc.status, headers=headers)


def _field_name(loc: Sequence[Any]) -> str:
    names = [str(part) for part in loc if isinstance(part, str) and part not in ROOT_KEYS]
    if names:
        return names[-1]
    keys = [str(part) for part in loc if isinstance(part, str) and part not in ("body", "query")]
    return keys[-1] if keys else "body"


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "can't be blank"
    if kind in ("less_than_equal", "less_than"):
        return f"must be less than or equal to {ctx.get('le', ctx.get('lt'))}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be greater than or equal to {ctx.get('ge', ctx.get('gt'))}"
    if kind == "too_long" or kind == "string_too_long":
        return f"is too long (maximum is {ctx.get('max_length')})"
    return "is invalid"


def validation_failed_from(errors: Sequence[Any]) -> DomainError:
    """A request parsing failure as the contract's error: 404 for a bad path id, else 422."""
    if any(error.get("loc", ("",))[0] == "path" for error in errors):
        return NotFound()
    fields: dict[str, list[str]] = {}
    for error in errors:
        messages = fields.setdefault(_field_name(error.get("loc", ())), [])
        message = _message(error)
        if message not in messages:
            messages.append(message)
    return ValidationFailed(fields)


async def _on_domain_error(_request: Request, exc: Exception) -> JSONBody:
    assert isinstance(exc, DomainError)
    return domain_error_response(exc)


async def authentication_refusal(request: Request) -> DomainError | None:
    """The 401/403 the route would have given, if the caller is not an admin."""
    from models.platform.users import authenticate

    settings = request.app.state.settings
    async with request.app.state.sessionmaker() as session:
        try:
            await authenticate(
                session,
                request_token(request),
                cache_seconds=settings.token_cache_seconds,
            )
        except DomainError as refusal:
            return refusal
    return None


# A body sent as a form (curl -d without -H) reaches the route as bytes, not JSON.
NOT_JSON = "must be JSON, sent with Content-Type: application/json"


def _sent_as_json(request: Request) -> bool:
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    return media in ("", "application/json") or media.endswith("+json")


async def _on_request_validation(request: Request, exc: Exception) -> JSONBody:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if not _sent_as_json(request) and any(
        tuple(error.get("loc", ())) == ("body",) for error in errors
    ):
        return domain_error_response(ValidationFailed.one("body", NOT_JSON))
    # Malformed JSON is refused before the route's dependencies run, authentication
    # included; a caller without a valid admin token still learns only that.
    if any(error.get("type") == "json_invalid" for error in errors):
        refusal = await authentication_refusal(request)
        if refusal is not None:
            return domain_error_response(refusal)
    return domain_error_response(validation_failed_from(errors))


HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path (the router stops at the first match,
    and included routers hide theirs, so each method is tried against the whole table)."""
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


# FastAPI's 400 for a body it cannot even decode (not UTF-8, say).
UNREADABLE_BODY = "There was an error parsing the body"


async def _on_http_exception(request: Request, exc: Exception) -> JSONBody:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return domain_error_response(NotFound())
    if exc.status_code == 400 and exc.detail == UNREADABLE_BODY:
        # The contract has no 400: an unreadable body is an invalid one (after auth).
        refusal = await authentication_refusal(request)
        return domain_error_response(refusal or ValidationFailed.one("body", "is invalid"))
    if exc.status_code == 405:
        allow = {"Allow": ", ".join(allowed_methods(request))}
        return JSONBody({"errors": "Method not allowed"}, status_code=405, headers=allow)
    return JSONBody({"errors": str(exc.detail)}, status_code=exc.status_code)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    # Any other exception is answered by the application's request pipeline (500/503).
