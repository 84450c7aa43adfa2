"""External calendars' addresses and credentials, encrypted at rest.

The keys come from the settings (``CALENDAR_SECRET_KEYS``, comma-separated): the first
encrypts, every one decrypts, so a key is rotated by putting the new one first, running
``clinic-availability rotate-calendar-keys`` (every stored secret sealed again with the
first key; :mod:`models.integrations.calendar_keys`), then removing the old one.
A key is a Fernet key (``Fernet.generate_key()``) or any passphrase, stretched with
SHA-256. Secrets are Fernet tokens (AES-128-CBC with HMAC-SHA256): tampering is detected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretsUnavailable(Exception):
    """No key is configured, or none of them opens a stored secret."""


def _fernet(key: str) -> Fernet:
    try:
        if len(base64.urlsafe_b64decode(key.encode())) == 32:
            return Fernet(key.encode())
    except (binascii.Error, ValueError):
        pass
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


@dataclass(frozen=True, slots=True)
class CalendarSecret:
    """What a sync needs and a reply never shows."""

    url: str
    password: str | None = None

    def __repr__(self) -> str:  # never in a log line or a traceback's locals by accident
        return "CalendarSecret(***)"


class SecretBox:
    def __init__(self, keys: str) -> None:
        found = [key.strip() for key in keys.split(",") if key.strip()]
        self._box = MultiFernet([_fernet(key) for key in found]) if found else None

    @property
    def ready(self) -> bool:
        return self._box is not None

    def seal(self, secret: CalendarSecret) -> str:
        if self._box is None:
            raise SecretsUnavailable("CALENDAR_SECRET_KEYS is not set")
        document: dict[str, Any] = {"url": secret.url, "password": secret.password}
        return self._box.encrypt(orjson.dumps(document)).decode("ascii")

    def rotate(self, sealed: str) -> str:
        """``sealed`` sealed again with the first key (whichever key of the list sealed it)."""
        if self._box is None:
            raise SecretsUnavailable("CALENDAR_SECRET_KEYS is not set")
        try:
            return self._box.rotate(sealed.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError) as exc:
            raise SecretsUnavailable("no key of CALENDAR_SECRET_KEYS opens it") from exc

    def open(self, sealed: str) -> CalendarSecret:
        if self._box is None:
            raise SecretsUnavailable("CALENDAR_SECRET_KEYS is not set")
        try:
            document = orjson.loads(self._box.decrypt(sealed.encode("ascii")))
        except (InvalidToken, orjson.JSONDecodeError, UnicodeError) as exc:
            raise SecretsUnavailable("no key of CALENDAR_SECRET_KEYS opens it") from exc
        return CalendarSecret(url=document["url"], password=document.get("password"))
