"""Keyset cursors: opaque to clients, the (instant, id) key of a row inside."""

from __future__ import annotations

import base64
from datetime import datetime


def time_id_cursor(moment: datetime, ident: int) -> str:
    """URL-safe base64 of ``<moment.isoformat()>|<id>``."""
    return base64.urlsafe_b64encode(f"{moment.isoformat()}|{ident}".encode()).decode()
