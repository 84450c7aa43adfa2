"""Where webhooks may point: the platform's outbound-target check (public addresses only
unless private ones are allowed), at registration and again on every delivery."""

from __future__ import annotations

from models.platform.outbound_targets import (
    MAX_URL_LENGTH,
    CheckedTarget,
    Target,
    TargetRefused,
    check_target,
    target_of,
)

__all__ = [
    "MAX_URL_LENGTH",
    "CheckedTarget",
    "Target",
    "TargetRefused",
    "check_target",
    "target_of",
]
