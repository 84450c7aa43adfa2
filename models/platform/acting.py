"""Who is acting, and under which request: read by the audit trail.

The faces set both once per request (the request id in the request pipeline, the
principal once the caller is authenticated); the domain only reads them.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.platform.users import Principal

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
principal_var: ContextVar[Principal | None] = ContextVar("principal", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


def current_principal() -> Principal | None:
    return principal_var.get()


def set_principal(principal: Principal) -> None:
    principal_var.set(principal)
