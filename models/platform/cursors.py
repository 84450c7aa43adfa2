"""Keyset cursors: opaque to clients, the (instant, id) key of a row inside.

A cursor is its key written plainly: ``<UTC instant as YYYYMMDDHHMMSSffffff>.<id>``, or
an id alone. Both databases write it with their own string functions, so a rendered
page's cursors cost no call back into Python from the database's thread (SQLite has no
base64), and it is shorter than the base64 it replaced. Cursors given out before were
URL-safe base64 of ``<ISO instant>|<id>``; ``key_parts`` reads both (base64 has no ``.``,
and base64 of a key's text starts with ``M``, ``N`` or ``O``, never a digit).
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime

_PLAIN = re.compile(r"(?:[0-9]{20}\.)?[0-9]+")


def _instant(moment: datetime) -> str:
    utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    return (
        f"{utc.year:04d}{utc.month:02d}{utc.day:02d}"
        f"{utc.hour:02d}{utc.minute:02d}{utc.second:02d}{utc.microsecond:06d}"
    )


def encode_cursor(*parts: object) -> str:
    """The cursor of a key: instants written as twenty digits, parts joined by ``.``."""
    return ".".join(_instant(part) if isinstance(part, datetime) else str(part) for part in parts)


def time_id_cursor(moment: datetime, ident: int) -> str:
    """``encode_cursor(moment, ident)``, written out: one per listed row."""
    return f"{_instant(moment)}.{ident}"


def key_parts(cursor: str) -> list[str]:
    """The parts of a cursor's key, instants in ISO 8601; ValueError when it is not one."""
    if _PLAIN.fullmatch(cursor):
        parts = cursor.split(".")
        if len(parts) == 2:
            d = parts[0]
            parts[0] = f"{d[:4]}-{d[4:6]}-{d[6:8]}T{d[8:10]}:{d[10:12]}:{d[12:14]}.{d[14:]}+00:00"
        return parts
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    except (UnicodeError, binascii.Error) as exc:
        raise ValueError("not a cursor") from exc
