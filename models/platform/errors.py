"""Domain errors: one per row of the contract's error table.

Each carries the REST status, the GraphQL code and the value of the body's ``errors``
key, so both faces render the same error from one place.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"
    message: ClassVar[str] = "Internal server error"

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.detail: str = message or self.message
        self.extra: dict[str, Any] = extra
        super().__init__(self.detail)

    @property
    def errors(self) -> Any:
        return self.detail

    def body(self) -> dict[str, Any]:
        return {"errors": self.errors, **self.extra}


class Unauthenticated(DomainError):
    status = 401
    code = "UNAUTHENTICATED"
    message = "Authentication required"


class Forbidden(DomainError):
    status = 403
    code = "FORBIDDEN"
    message = "Admin access required"


class NotFound(DomainError):
    status = 404
    code = "NOT_FOUND"
    message = "Not found"


class Conflict(DomainError):
    status = 409
    code = "CONFLICT"
    message = "Time slot conflicts with existing availability"


class SlotConflict(Conflict):
    """Overlap with another slot of the same provider; ``conflicts`` lists the clashes."""


class SlotNotAvailable(Conflict):
    message = "Slot is not available"


class SlotHasActiveBooking(Conflict):
    message = "Slot has an active booking"


class SlotHasActiveHold(Conflict):
    message = "Slot has an active hold"


class HoldNotActive(Conflict):
    message = "Hold is no longer active"


class BookingNotPending(Conflict):
    """Confirming or declining a booking request that was already confirmed, declined or
    expired (the compare-and-set found it no longer pending)."""

    message = "Booking is no longer pending"


class TimeOffConflict(Conflict):
    message = "Time slot conflicts with provider time off"


class NoResourceAvailable(Conflict):
    """No active resource of the kind a slot needs is free for the slot's interval."""

    message = "No resource available"


class ResourceInUse(Conflict):
    """A slot keeping a resource cannot move onto another slot's time with it."""

    message = "Slot's resource is in use at that time"


class ValidationFailed(DomainError):
    status = 422
    code = "VALIDATION_FAILED"
    message = "Validation failed"

    def __init__(self, fields: dict[str, list[str]], **extra: Any) -> None:
        self.fields = fields
        super().__init__(self.message, **extra)

    @property
    def errors(self) -> dict[str, list[str]]:
        return self.fields

    @classmethod
    def one(cls, field: str, message: str) -> ValidationFailed:
        return cls({field: [message]})


class EventExpired(DomainError):
    """A resume position older than the events still kept: some after it were purged."""

    status = 410
    code = "EVENT_EXPIRED"
    message = (
        "Events after this position are no longer kept (EVENT_RETENTION_DAYS): fetch the "
        "current state, then subscribe again without after"
    )


class ServiceUnavailable(DomainError):
    """The database could not be reached; the client should retry."""

    status = 503
    code = "SERVICE_UNAVAILABLE"
    message = "Service temporarily unavailable"


class FieldErrors:
    """Collects validation messages per field, then raises them together."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        messages = self.fields.setdefault(field, [])
        if message not in messages:
            messages.append(message)

    def has(self, field: str) -> bool:
        return field in self.fields

    def __bool__(self) -> bool:
        return bool(self.fields)

    def raise_if_any(self) -> None:
        if self.fields:
            raise ValidationFailed(self.fields)
