"""Where a caller's token travels: ``X-User-Token`` (the contract's header) or
``Authorization: Bearer <token>``; and the challenge every 401 carries."""

from __future__ import annotations

from starlette.requests import HTTPConnection

TOKEN_HEADER = "X-User-Token"
# RFC 6750's challenge; the realm names the service.
WWW_AUTHENTICATE = 'Bearer realm="clinic-availability"'
CHALLENGE = {"WWW-Authenticate": WWW_AUTHENTICATE}


def token_of(user_token: str | None, authorization: str | None) -> str | None:
    """``X-User-Token`` when sent, else a ``Bearer`` credential, else None."""
    if user_token:
        return user_token
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def request_token(request: HTTPConnection) -> str | None:
    return token_of(request.headers.get("x-user-token"), request.headers.get("authorization"))
