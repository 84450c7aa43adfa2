"""Per-request GraphQL context: settings, a database session, the caller, loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection
from strawberry.fastapi import BaseContext

from common.request_context import set_principal
from common.settings import Settings
from common.tokens import request_token
from models.platform.users import Principal, authenticate


def token_from(request: HTTPConnection) -> str | None:
    return request_token(request)


class ContextFactory(Protocol):
    """Makes one request's context; ``token``: the caller's token where the caller read
    it already (else it is read from ``request``)."""

    def __call__(
        self, request: HTTPConnection, session: AsyncSession, token: str | None = None
    ) -> Context: ...


@dataclass
class Context(BaseContext):
    settings: Settings
    session: AsyncSession
    token: str | None
    loaders: dict[str, Any] = field(default_factory=dict)
    # Secrets this operation's reply shows once (a webhook's signing secret): left out of
    # the reply stored for Idempotency-Key replays.
    shown_once: set[str] = field(default_factory=set)
    _principal: Principal | None = None

    def __post_init__(self) -> None:
        super().__init__()

    def show_once(self, secret: str) -> str:
        """``secret``, noted as one no stored reply may keep."""
        self.shown_once.add(secret)
        return secret

    async def require_admin(self) -> Principal:
        """The authenticated admin; raises the contract's 401 or 403 otherwise."""
        if self._principal is None:
            self._principal = await authenticate(
                self.session, self.token, cache_seconds=self.settings.token_cache_seconds
            )
        # Resolvers may run as separate tasks: each sets the caller for its own audit.
        set_principal(self._principal)
        return self._principal
