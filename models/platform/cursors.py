"""Keyset cursors: opaque to clients, the (instant, id) key of a row inside.

A cursor is the hex of its key's text, ``<UTC instant>|<id>``. Hex, not base64: both
databases write it with built-in functions (SQLite has no base64), so a rendered page's
cursors cost no call back into Python from the database's thread. Cursors given out
before were URL-safe base64 of the same parts; ``key_parts`` reads both.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime

_HEX = re.compile(r"(?:[0-9a-f]{2})+")


def _part(value: object) -> str:
    if isinstance(value, datetime):
        instant = value.astimezone(UTC) if value.tzinfo is not None else value
        return instant.replace(tzinfo=UTC).isoformat(" ", "microseconds")
    return str(value)


def encode_cursor(*parts: object) -> str:
    """The cursor of a key: instants written ``YYYY-MM-DD HH:MM:SS.ffffff+00:00``."""
    return "|".join(_part(part) for part in parts).encode().hex()


def time_id_cursor(moment: datetime, ident: int) -> str:
    """``encode_cursor(moment, ident)``, written out: one per listed row."""
    instant = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    return f"{instant.replace(tzinfo=UTC).isoformat(' ', 'microseconds')}|{ident}".encode().hex()


def key_parts(cursor: str) -> list[str]:
    """The parts of a cursor's key; ValueError when it is not one.

    A key's text starts with a digit, so a base64 cursor starts with ``M``, ``N`` or
    ``O`` and is never read as hex.
    """
    try:
        if _HEX.fullmatch(cursor):
            raw = bytes.fromhex(cursor)
        else:
            raw = base64.urlsafe_b64decode(cursor.encode())
        return raw.decode().split("|")
    except (UnicodeError, binascii.Error) as exc:
        raise ValueError("not a cursor") from exc
