"""Two servers over one database, the fast lane on and off, and replies to compare."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from clinic_availability.app import create_app
from common.settings import Settings
from models.platform.users import flush_last_use

PER_REQUEST = {"x-request-id"}


@asynccontextmanager
async def lane_and_full(settings: Settings, **changes: Any) -> AsyncIterator[tuple[Any, Any]]:
    lane = create_app(settings.model_copy(update=changes))
    full = create_app(settings.model_copy(update={**changes, "fast_lane": False}))
    try:
        yield lane, full
    finally:
        await flush_last_use()
        await lane.state.engine.dispose()
        await full.state.engine.dispose()


async def send(app: Any, method: str, url: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.request(method, url, **kwargs)


def comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers (but the request id) and body bytes."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in PER_REQUEST]
    return response.status_code, headers, response.content
