"""Request dependencies: settings, a database session, the authenticated admin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from common.request_context import set_principal
from common.settings import Settings
from common.tokens import TOKEN_HEADER
from models.platform.users import Principal, authenticate

token_header = APIKeyHeader(
    name=TOKEN_HEADER,
    auto_error=False,
    description="An admin user's API token (`clinic-availability create-user --role admin`).",
)
bearer_token = HTTPBearer(
    auto_error=False,
    description="The same token as `Authorization: Bearer <token>` (when no `X-User-Token`).",
)


async def get_token(
    user_token: Annotated[str | None, Security(token_header)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_token)] = None,
) -> str | None:
    """``X-User-Token`` when sent, else the ``Authorization: Bearer`` credential."""
    return user_token or (bearer.credentials if bearer is not None else None)


TokenDep = Annotated[str | None, Depends(get_token)]


# Async on purpose: FastAPI runs a plain ``def`` dependency in a worker thread, which
# cost a thread hand-off on every request.
async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: HTTPConnection) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: TokenDep,
) -> Principal:
    principal = await authenticate(session, token, cache_seconds=settings.token_cache_seconds)
    request.state.principal = principal
    set_principal(principal)
    return principal


AdminDep = Annotated[Principal, Depends(get_principal)]
