"""External calendar tests: loopback servers allowed, a secret key set, no background syncs
(each test syncs on demand)."""

from __future__ import annotations

import pytest

from common.settings import Settings

SECRET_KEYS = "calendar-test-key-1"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        token_cache_seconds=0,
        calendar_allow_private_targets=True,
        calendar_secret_keys=SECRET_KEYS,
        calendar_sync=False,
        calendar_sync_horizon_days=400,
    )
