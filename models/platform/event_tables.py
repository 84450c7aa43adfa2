"""The tables of the event stream and its integrations: events, webhooks, feed keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.platform.base import Base, TimestampMixin, utcnow


class AvailabilityEvent(Base):
    """One change, written in the transaction of the change; ids follow commit order.

    No notes, reasons or names: only kinds, record ids and times.
    """

    __tablename__ = "availability_events"
    __table_args__ = (
        Index("ix_availability_events_provider", "provider_id", "id"),
        # SQLite: never reuse the id of a purged event (a resume position would repeat).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    provider_id: Mapped[int] = mapped_column(Integer)
    slot_id: Mapped[int | None]
    # booking.rescheduled: the slot the booking left (slot_id is where it went).
    previous_slot_id: Mapped[int | None]
    booking_id: Mapped[int | None]
    series_id: Mapped[int | None]
    hold_id: Mapped[int | None]
    time_off_id: Mapped[int | None]
    external_calendar_id: Mapped[int | None]
    # waitlist.offered: the entry offered the seat (hold_id, slot_id: the hold and its slot).
    waitlist_entry_id: Mapped[int | None]
    start_time: Mapped[datetime | None]
    end_time: Mapped[datetime | None]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    request_id: Mapped[str | None] = mapped_column(String(64))


class Webhook(TimestampMixin, Base):
    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # "whsec_" + base64 of 32 random bytes; needed in clear to sign each delivery.
    secret: Mapped[str] = mapped_column(String(100))
    # Events up to this id have been turned into deliveries (the fan-out's position).
    last_event_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_webhook_event"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(
        ForeignKey("availability_events.id", ondelete="CASCADE"), index=True
    )
    # pending, delivered or failed (attempts exhausted).
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_response_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class CalendarFeedKey(Base):
    """A per-provider key that calendar apps hold to read the provider's .ics feed."""

    __tablename__ = "calendar_feed_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("providers.id", ondelete="CASCADE"), index=True
    )
    # SHA-256 of the key; the key itself is shown once.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
