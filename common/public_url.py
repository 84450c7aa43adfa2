"""Where clients reach the service, for the absolute URLs they keep."""

from __future__ import annotations

from common.settings import Settings


def public_base(settings: Settings, request_base_url: object) -> str:
    """``PUBLIC_BASE_URL`` when set, else the base URL the request came in on (no slash)."""
    return (settings.public_base_url or str(request_base_url)).rstrip("/")
