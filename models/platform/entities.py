"""The tables. Operations on them live in the sibling modules."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.platform.base import Base, TimestampMixin, utcnow


class Role(enum.StrEnum):
    ADMIN = "admin"
    PROVIDER = "provider"
    PATIENT = "patient"


class HoldStatus(enum.StrEnum):
    HELD = "held"
    RELEASED = "released"
    EXPIRED = "expired"
    BOOKED = "booked"


class BookingStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    COMPLETED = "completed"
    # A booking request: keeps its seat until confirmed, declined or past pending_expires_at.
    PENDING = "pending"
    DECLINED = "declined"
    EXPIRED = "expired"


# Bookings that keep no seat; a pending one past its pending_expires_at is expired too.
ENDED_BOOKING_STATUSES: tuple[str, ...] = ("cancelled", "declined", "expired")


class WaitlistStatus(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    FULFILLED = "fulfilled"
    # The offer's hold expired or was released: the seat went on to the next entry.
    LAPSED = "lapsed"
    CANCELLED = "cancelled"


# Ids are INTEGER columns: 32-bit on PostgreSQL, so a larger id can name no record (and
# must never reach a query, where the driver would refuse it).
MAX_ID = 2**31 - 1

# The keys the appointment type catalog (AppointmentType) starts with.
APPOINTMENT_TYPES: tuple[str, ...] = (
    "therapy",
    "consultation",
    "follow_up",
    "assessment",
    "group_therapy",
    "medication_review",
)
RECURRENCE_PATTERNS: tuple[str, ...] = ("daily", "weekly", "biweekly", "monthly", "custom")
# How an appointment of a type may take place.
APPOINTMENT_MODES: tuple[str, ...] = ("video", "phone", "in_person")


def _enum_column(kind: type[enum.StrEnum], name: str) -> Enum:
    # Stored as plain strings with a CHECK, so adding a value is a small migration.
    return Enum(
        kind,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [m.value for m in members],
    )


class Provider(TimestampMixin, Base):
    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Booking rules; None means no such rule.
    minimum_notice_minutes: Mapped[int | None] = mapped_column(Integer)
    booking_window_days: Mapped[int | None] = mapped_column(Integer)
    buffer_before_minutes: Mapped[int | None] = mapped_column(Integer)
    buffer_after_minutes: Mapped[int | None] = mapped_column(Integer)
    max_bookings_per_day: Mapped[int | None] = mapped_column(Integer)
    # How late a booking may still be cancelled or moved; None means any time before it.
    cancellation_cutoff_minutes: Mapped[int | None] = mapped_column(Integer)
    reschedule_cutoff_minutes: Mapped[int | None] = mapped_column(Integer)
    max_bookings_per_week: Mapped[int | None] = mapped_column(Integer)
    max_bookings_per_month: Mapped[int | None] = mapped_column(Integer)
    # What a provider is matched on (JSON lists of text). No type keys: every type.
    appointment_type_keys: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    licensed_states: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    languages: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))


class AppointmentType(TimestampMixin, Base):
    """A kind of appointment; ``key`` is the text every ``appointment_type`` field carries."""

    __tablename__ = "appointment_types"
    __table_args__ = (
        CheckConstraint("duration_minutes >= 1", name="duration_positive"),
        UniqueConstraint("key", name="uq_appointment_types_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    # Override the provider's buffers for appointments of this type; None: the provider's.
    buffer_before_minutes: Mapped[int | None] = mapped_column(Integer)
    buffer_after_minutes: Mapped[int | None] = mapped_column(Integer)
    # Override the provider's cutoffs for bookings of this type; None: the provider's.
    cancellation_cutoff_minutes: Mapped[int | None] = mapped_column(Integer)
    reschedule_cutoff_minutes: Mapped[int | None] = mapped_column(Integer)
    modes: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))


class Resource(TimestampMixin, Base):
    """A room or a piece of equipment a slot may need (``available_slots.resource_kind``)."""

    __tablename__ = "resources"
    __table_args__ = (Index("ix_resources_kind", "kind", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))


class Patient(TimestampMixin, Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(_enum_column(Role, "user_role"))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the token; the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=func.current_timestamp()
    )
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="tokens", lazy="joined")


class SlotSeries(TimestampMixin, Base):
    """A recurring availability rule; its occurrences are rows of ``available_slots``."""

    __tablename__ = "slot_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    recurrence_pattern: Mapped[str] = mapped_column(String(20))
    recurrence_rule: Mapped[str] = mapped_column(String(500))
    # First occurrence as local wall-clock time in ``time_zone``, and its length.
    dtstart_local: Mapped[datetime] = mapped_column(
        # Wall-clock time, deliberately naive: stored and returned without a zone.
        DateTime(timezone=False)
    )
    duration_minutes: Mapped[int] = mapped_column(Integer)
    time_zone: Mapped[str] = mapped_column(String(64))
    appointment_type: Mapped[str | None] = mapped_column(String(40))
    recurrence_end_date: Mapped[date | None] = mapped_column(Date)
    # Occurrences exist up to this instant; extension continues from here.
    generated_until: Mapped[datetime]
    # True once the rule has no occurrence left to generate (COUNT/UNTIL/end date reached).
    exhausted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    occurrences_created: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped_conflicts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    capacity: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The kind of resource every occurrence needs (AvailableSlot.resource_kind).
    resource_kind: Mapped[str | None] = mapped_column(String(40))


class AvailableSlot(TimestampMixin, Base):
    __tablename__ = "available_slots"
    __table_args__ = (
        CheckConstraint("end_time > start_time", name="end_after_start"),
        CheckConstraint("capacity >= 1 AND capacity <= 100", name="capacity_range"),
        CheckConstraint("booked_count >= 0 AND booked_count <= capacity", name="seats_taken"),
        Index("ix_available_slots_provider_start", "provider_id", "start_time", "id"),
        Index("ix_available_slots_start", "start_time", "id"),
        # One occurrence per series and start: the last guard against a duplicate when
        # two processes extend the same series at once.
        Index("uq_available_slots_series_start", "series_id", "start_time", unique=True),
        ExcludeConstraint(
            ("provider_id", "="),
            (text("tstzrange(start_time, end_time, '[)')"), "&&"),
            name="ex_available_slots_no_overlap",
            using="gist",
        ).ddl_if(dialect="postgresql"),
        # No resource kept by two overlapping slots (SQLite: the writer lock and a check,
        # models.booking.resources).
        ExcludeConstraint(
            ("resource_id", "="),
            (text("tstzrange(start_time, end_time, '[)')"), "&&"),
            name="ex_available_slots_resource_overlap",
            using="gist",
            where=text("resource_id IS NOT NULL"),
        ).ddl_if(dialect="postgresql"),
        Index(
            "ix_available_slots_resource",
            "resource_id",
            "start_time",
            postgresql_where=text("resource_id IS NOT NULL"),
            sqlite_where=text("resource_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    start_time: Mapped[datetime]
    end_time: Mapped[datetime]
    # end_time - start_time, kept by every write (search filters on it, and SQLite has
    # no interval arithmetic). Bulk inserts must fill it too.
    duration_minutes: Mapped[int] = mapped_column(Integer)
    appointment_type: Mapped[str | None] = mapped_column(String(40))
    # Closed by an admin (``available: false`` on update). One of the three causes a slot
    # is not available; the reply's ``available`` is models.scheduling.availability's open clause.
    admin_closed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    capacity: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Seats taken by active bookings, changed only by compare-and-set with the booking.
    booked_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    recurring: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    recurrence_pattern: Mapped[str | None] = mapped_column(String(20))
    recurrence_rule: Mapped[str | None] = mapped_column(String(500))
    series_id: Mapped[int | None] = mapped_column(ForeignKey("slot_series.id", ondelete="SET NULL"))
    # The kind of resource the slot needs (a room, say); None: none. ``resource_id`` is the
    # one it keeps while a hold or an active booking takes a seat (models.booking.resources);
    # resources are never deleted (``active: false`` retires one), so no foreign key.
    resource_kind: Mapped[str | None] = mapped_column(String(40))
    resource_id: Mapped[int | None] = mapped_column(Integer)

    provider: Mapped[Provider] = relationship(lazy="raise")

    if TYPE_CHECKING:
        # Mapped in models.scheduling.availability: open now (no admin close, no time off,
        # a free seat).
        available: Mapped[bool]

    # The flat provider columns of a slot read row (models.scheduling.slots.SLOT_COLUMNS), so a
    # loaded entity renders like a row.
    @property
    def provider_first_name(self) -> str:
        return self.provider.first_name

    @property
    def provider_last_name(self) -> str:
        return self.provider.last_name

    @property
    def provider_time_zone(self) -> str:
        return self.provider.time_zone

    @property
    def provider_active(self) -> bool:
        return self.provider.active

    @property
    def provider_minimum_notice_minutes(self) -> int | None:
        return self.provider.minimum_notice_minutes

    @property
    def provider_booking_window_days(self) -> int | None:
        return self.provider.booking_window_days

    @property
    def provider_buffer_before_minutes(self) -> int | None:
        return self.provider.buffer_before_minutes

    @property
    def provider_buffer_after_minutes(self) -> int | None:
        return self.provider.buffer_after_minutes

    @property
    def provider_max_bookings_per_day(self) -> int | None:
        return self.provider.max_bookings_per_day

    @property
    def provider_cancellation_cutoff_minutes(self) -> int | None:
        return self.provider.cancellation_cutoff_minutes

    @property
    def provider_reschedule_cutoff_minutes(self) -> int | None:
        return self.provider.reschedule_cutoff_minutes

    @property
    def provider_max_bookings_per_week(self) -> int | None:
        return self.provider.max_bookings_per_week

    @property
    def provider_max_bookings_per_month(self) -> int | None:
        return self.provider.max_bookings_per_month


# A pending booking is checked under the slot's lock instead (it may expire any moment).
ACTIVE_BOOKING_INDEX_WHERE = "status NOT IN ('cancelled', 'pending', 'declined', 'expired')"


class Booking(TimestampMixin, Base):
    __tablename__ = "bookings"
    __table_args__ = (
        # One active booking per slot and patient, enforced by the database itself; the
        # seat count is guarded by available_slots.booked_count.
        Index(
            "uq_bookings_active_slot_patient",
            "available_slot_id",
            "patient_id",
            unique=True,
            postgresql_where=text(ACTIVE_BOOKING_INDEX_WHERE),
            sqlite_where=text(ACTIVE_BOOKING_INDEX_WHERE),
        ),
        Index("ix_bookings_patient", "patient_id", "id"),
        Index("ix_bookings_slot", "available_slot_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    available_slot_id: Mapped[int] = mapped_column(ForeignKey("available_slots.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    appointment_type: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[BookingStatus] = mapped_column(
        _enum_column(BookingStatus, "booking_status"), default=BookingStatus.CONFIRMED
    )
    cancellation_reason: Mapped[str | None] = mapped_column(String(500))
    cancelled_at: Mapped[datetime | None]
    # The slot the latest reschedule moved the booking from, and how often it moved.
    rescheduled_from_slot_id: Mapped[int | None] = mapped_column(Integer)
    reschedule_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The resource the booking's slot took for it (its slot's, when it was made or moved).
    resource_id: Mapped[int | None] = mapped_column(Integer)
    # A booking request (status pending) keeps its seat until then.
    pending_expires_at: Mapped[datetime | None]

    slot: Mapped[AvailableSlot] = relationship(lazy="raise")
    patient: Mapped[Patient] = relationship(lazy="raise")


class Hold(TimestampMixin, Base):
    """A seat kept for a while (a patient filling in a form); counts until ``expires_at``.

    A row still ``held`` past ``expires_at`` is expired: readers compare the time, so no
    background job is needed.
    """

    __tablename__ = "holds"
    __table_args__ = (
        Index("ix_holds_slot_status", "available_slot_id", "status", "expires_at"),
        Index("ix_holds_patient", "patient_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    available_slot_id: Mapped[int] = mapped_column(ForeignKey("available_slots.id"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"))
    status: Mapped[HoldStatus] = mapped_column(
        _enum_column(HoldStatus, "hold_status"), default=HoldStatus.HELD
    )
    expires_at: Mapped[datetime]
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"))
    # The resource the hold's slot took for it.
    resource_id: Mapped[int | None] = mapped_column(Integer)


class WaitlistEntry(TimestampMixin, Base):
    """A patient waiting for a seat that matches: offered one through a hold when it opens.

    ``window_start``/``window_end``: the clinic days asked for, as instants. ``hold_id`` and
    ``offered_slot_id`` name the latest offer (no foreign keys: slots and their spent holds
    may be deleted; the entry keeps its history).
    """

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        Index("ix_waitlist_entries_status", "status", "id"),
        Index("ix_waitlist_entries_patient", "patient_id", "status"),
        Index("ix_waitlist_entries_hold", "hold_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"))
    appointment_type: Mapped[str | None] = mapped_column(String(40))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    offer_seconds: Mapped[int] = mapped_column(Integer)
    status: Mapped[WaitlistStatus] = mapped_column(
        _enum_column(WaitlistStatus, "waitlist_status"), default=WaitlistStatus.WAITING
    )
    hold_id: Mapped[int | None] = mapped_column(Integer)
    offered_slot_id: Mapped[int | None] = mapped_column(Integer)
    offer_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class TimeOff(TimestampMixin, Base):
    """A provider away: every slot of theirs overlapping ``[start_time, end_time)`` is closed."""

    __tablename__ = "time_offs"
    __table_args__ = (
        CheckConstraint("end_time > start_time", name="end_after_start"),
        Index("ix_time_offs_provider_start", "provider_id", "start_time", "end_time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    start_time: Mapped[datetime]
    end_time: Mapped[datetime]
    # Health-adjacent: never logged, never in an error body.
    reason: Mapped[str | None] = mapped_column(String(500))


class AuditEntry(Base):
    """Append-only record of every change and every read of booking notes."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None]
    token_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(String(20))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None]
    # Names of the fields that changed, never their values.
    changed_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    request_id: Mapped[str | None] = mapped_column(String(64))


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    # The server process working on the request, while it has no reply yet.
    owner: Mapped[str | None] = mapped_column(String(64))
    # Set in the transaction of the request's change: from then on it must never re-run.
    changed_at: Mapped[datetime | None]


class GraphQLDocument(Base):
    """A registered GraphQL document (persisted/trusted), served by its opaque id."""

    __tablename__ = "graphql_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The client's key: a manifest's id (any hash or name), or the SHA-256 for APQ.
    document_id: Mapped[str] = mapped_column(String(200), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    body: Mapped[str] = mapped_column(Text)
    operation_name: Mapped[str | None] = mapped_column(String(200))
    # "manifest" (registered by an operator) or "automatic" (Apollo's APQ).
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The event stream and its integrations (tables of their own module, same metadata).
from models.platform.calendar_tables import (  # noqa: E402, F401
    ExternalBusy,
    ExternalCalendar,
    ExternalCalendarObject,
)
from models.platform.event_tables import (  # noqa: E402, F401
    AvailabilityEvent,
    CalendarFeedKey,
    Webhook,
    WebhookDelivery,
)

# Ids only ever grow: on SQLite a plain INTEGER PRIMARY KEY hands the id of a deleted
# newest row to the next insert; AUTOINCREMENT never does (PostgreSQL sequences never do).
for _table in Base.metadata.tables.values():
    _table.kwargs["sqlite_autoincrement"] = True
