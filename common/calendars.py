"""What both faces and the sync processes take from the settings for external calendars."""

from __future__ import annotations

from functools import lru_cache

from common.settings import Settings
from models.integrations.calendar_secrets import SecretBox
from models.integrations.calendar_sync import SyncOptions, new_owner

# This process's name on the sync leases it takes.
PROCESS_OWNER = new_owner()


@lru_cache(maxsize=8)
def _box(keys: str) -> SecretBox:
    return SecretBox(keys)


def secret_box(settings: Settings) -> SecretBox:
    return _box(settings.calendar_secret_keys)


def sync_options(settings: Settings) -> SyncOptions:
    return SyncOptions(
        allow_private=settings.calendar_allow_private_targets,
        horizon_days=settings.calendar_sync_horizon_days,
        timeout_seconds=settings.calendar_sync_timeout_seconds,
    )
