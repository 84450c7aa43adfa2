"""The tables of external calendars: where a provider's busy time elsewhere is read, and the
busy intervals last read from there (only intervals: no titles, attendees or descriptions)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.platform.base import Base, TimestampMixin

# A stored busy interval lasts at most this long (longer busy time is stored as several
# back to back), so "overlaps the slot" needs only the intervals starting in
# ``[slot start - MAX_BUSY_MINUTES, slot end)``: one short index range per slot.
MAX_BUSY_MINUTES = 24 * 60


class ExternalCalendar(TimestampMixin, Base):
    """A provider's calendar kept elsewhere (an iCalendar URL or a CalDAV collection)."""

    __tablename__ = "external_calendars"
    __table_args__ = (
        Index("ix_external_calendars_due", "next_sync_at"),
        CheckConstraint("sync_interval_seconds >= 60", name="sync_interval_minimum"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    # "ical" or "caldav".
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str | None] = mapped_column(String(200))
    # What replies show of the address: the CalDAV URL, or only the origin of an iCalendar
    # URL (a published calendar's "secret address" carries its key in the path).
    display_url: Mapped[str] = mapped_column(String(2000))
    username: Mapped[str | None] = mapped_column(String(200))
    # Fernet token (CALENDAR_SECRET_KEYS) of {"url": ..., "password": ...}; never returned.
    credentials: Mapped[str] = mapped_column(Text)
    sync_interval_seconds: Mapped[int] = mapped_column(Integer, default=300)
    # Sync state, written by the sync (not audited: it is no admin change).
    next_sync_at: Mapped[datetime]
    last_synced_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The validators of the last full read: ETag / Last-Modified (iCalendar), getctag
    # (CalDAV); a conditional request sends them back.
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    ctag: Mapped[str | None] = mapped_column(String(500))
    # The CalDAV collection's sync-token (RFC 6578) that ``external_calendar_objects``
    # are current with: the next read asks only what changed since.
    sync_token: Mapped[str | None] = mapped_column(String(500))
    # The horizon the stored intervals were read over: a later horizon reads again.
    synced_until: Mapped[datetime | None]
    # A sync in progress: who holds it, and until when (then another process may take it).
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]


class ExternalBusy(Base):
    """One busy interval read from an external calendar: closes the provider's slots it
    overlaps (``models.scheduling.availability``)."""

    __tablename__ = "external_busy"
    __table_args__ = (
        CheckConstraint("end_time > start_time", name="end_after_start"),
        Index("ix_external_busy_provider_start", "provider_id", "start_time", "end_time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    calendar_id: Mapped[int] = mapped_column(
        ForeignKey("external_calendars.id", ondelete="CASCADE"), index=True
    )
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    start_time: Mapped[datetime]
    end_time: Mapped[datetime]


class ExternalCalendarObject(Base):
    """What one object (event resource) of a CalDAV collection adds to its calendar's busy
    time, so that the changes a sync-collection REPORT lists can be applied without reading
    the rest: a SHA-256 of the object's path (not the path) and its busy intervals, JSON
    ``[[start, end], ...]`` in UTC. Kept only while the server gives sync-tokens."""

    __tablename__ = "external_calendar_objects"
    __table_args__ = (UniqueConstraint("calendar_id", "href_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    calendar_id: Mapped[int] = mapped_column(
        ForeignKey("external_calendars.id", ondelete="CASCADE")
    )
    href_hash: Mapped[str] = mapped_column(String(64))
    intervals: Mapped[str] = mapped_column(Text)
