"""The lanes' token check: a cached admin needs no clock of its own only while its token
is neither expired nor due a last-use note; then the long check answers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform import users
from models.platform.timeutil import now_utc
from models.platform.users import (
    LAST_USED_RESOLUTION,
    authenticate,
    cached_admin,
    hash_token,
    token_cache,
)
from tests.factories import Factory

CACHE_SECONDS = 60.0


@pytest.fixture(autouse=True)
def empty_cache() -> Any:
    token_cache.clear()
    yield
    token_cache.clear()


async def test_an_expiring_token_stops_at_its_expiry(factory: Factory, session: AsyncSession):
    token = await factory.token(expires_in=timedelta(seconds=0.6))
    principal = await authenticate(session, token, cache_seconds=CACHE_SECONDS)
    engine = session.bind
    assert cached_admin(engine, token, cache_seconds=CACHE_SECONDS) == principal
    assert token_cache.quiet_admin(hash_token(token), CACHE_SECONDS) == principal
    await asyncio.sleep(0.7)
    assert principal.expires_at is not None and principal.expires_at <= now_utc()
    assert token_cache.quiet_admin(hash_token(token), CACHE_SECONDS) is None
    assert cached_admin(engine, token, cache_seconds=CACHE_SECONDS) is None


async def test_a_use_is_noted_once_its_last_is_old_enough(
    factory: Factory, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
):
    token = await factory.token()
    principal = await authenticate(session, token, cache_seconds=CACHE_SECONDS)
    noted: list[int] = []
    monkeypatch.setattr(
        users.last_use, "note", lambda _engine, token_id, _at: noted.append(token_id)
    )
    # Last used a little less than the resolution ago: quiet for 0.3 s more.
    now = now_utc()
    token_cache.put(
        hash_token(token), principal, now - LAST_USED_RESOLUTION + timedelta(seconds=0.3), now
    )
    assert cached_admin(session.bind, token, cache_seconds=CACHE_SECONDS) == principal
    assert noted == []
    await asyncio.sleep(0.4)
    assert cached_admin(session.bind, token, cache_seconds=CACHE_SECONDS) == principal
    assert noted == [principal.token_id]
    # Noted just now: quiet again.
    assert token_cache.quiet_admin(hash_token(token), CACHE_SECONDS) == principal
    assert cached_admin(session.bind, token, cache_seconds=CACHE_SECONDS) == principal
    assert noted == [principal.token_id]


async def test_a_cached_entry_ends_with_its_window(factory: Factory, session: AsyncSession):
    token = await factory.token()
    principal = await authenticate(session, token, cache_seconds=CACHE_SECONDS)
    assert cached_admin(session.bind, token, cache_seconds=CACHE_SECONDS) == principal
    await asyncio.sleep(0.15)
    assert cached_admin(session.bind, token, cache_seconds=0.1) is None


async def test_a_non_admin_is_never_quiet(factory: Factory, session: AsyncSession):
    token = await factory.token(role="provider")
    with pytest.raises(users.Forbidden):
        await authenticate(session, token, cache_seconds=CACHE_SECONDS)
    assert token_cache.get(hash_token(token), CACHE_SECONDS) is not None
    assert token_cache.quiet_admin(hash_token(token), CACHE_SECONDS) is None
    assert cached_admin(session.bind, token, cache_seconds=CACHE_SECONDS) is None
