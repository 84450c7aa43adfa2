"""Who and which request the current task serves, readable from any layer.

The REST auth dependency and the GraphQL context set the principal; the request log
middleware (``clinic_availability.logging``) sets the request id. The audit trail and
error masking read them.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.users import Principal

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
principal_var: ContextVar[Principal | None] = ContextVar("principal", default=None)

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def current_request_id() -> str | None:
    return request_id_var.get()


def current_principal() -> Principal | None:
    return principal_var.get()


def set_principal(principal: Principal) -> None:
    principal_var.set(principal)


def new_request_id(offered: str | None = None) -> str:
    """The caller's ``X-Request-ID`` if it is short and plain, else a fresh one."""
    if offered and _SAFE_REQUEST_ID.match(offered):
        return offered
    return uuid.uuid4().hex
