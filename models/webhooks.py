"""Webhooks: registrations, and their deliveries kept in the database.

Deliveries are made from the event stream by a fan-out that follows each webhook's
position in it (``last_event_id``: ids are in commit order, so nothing is skipped), and
are sent by the dispatcher of any server process. A process claims due deliveries under
row locks (``SKIP LOCKED`` on PostgreSQL) and pushes their next attempt past a lease in the
same transaction, so no two processes send the same attempt; a process that dies while
sending leaves the delivery to be retried when the lease runs out (at least once).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.db import write_transaction
from models.errors import FieldErrors, NotFound
from models.event_tables import AvailabilityEvent, Webhook, WebhookDelivery
from models.events import EVENT_TYPES, event_payload, last_event_id
from models.timeutil import now_utc
from models.webhook_targets import TargetRefused, resolve, target_of, url_problem

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
ALL_EVENTS = "*"
DESCRIPTION_MAX_LENGTH = 500
UNSET: Any = object()


class _Registry:
    # Bumped by every registration change in this process: its dispatcher looks again at
    # once instead of at its next idle check.
    version = 0


def registry_version() -> int:
    return _Registry.version


async def any_active(session: AsyncSession) -> bool:
    found = (await session.execute(select(Webhook.id).where(Webhook.active).limit(1))).first()
    await session.rollback()
    return found is not None


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    max_attempts: int = 8
    backoff_seconds: float = 5.0
    # A claimed attempt is retried after this long if its process never reports back.
    lease_seconds: float = 60.0

    def next_delay(self, attempts: int) -> timedelta:
        """Exponential back-off: base, 2x base, 4x base, ... after the 1st, 2nd, 3rd failure."""
        return timedelta(seconds=self.backoff_seconds * 2 ** max(0, attempts - 1))


@dataclass(frozen=True, slots=True)
class Claim:
    """One attempt a process has taken on: everything needed to send it."""

    delivery_id: int
    webhook_id: int
    url: str
    secret: str
    event_id: int
    event_type: str
    payload: dict[str, Any]
    attempt: int


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _check_events(errors: FieldErrors, value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        errors.add("events", "can't be blank")
        return []
    if not all(isinstance(item, str) for item in value):
        errors.add("events", "is invalid")
        return []
    unknown = [item for item in value if item != ALL_EVENTS and item not in EVENT_TYPES]
    if unknown:
        errors.add("events", "is not included in the list")
    return list(dict.fromkeys(value))


async def _check_url(errors: FieldErrors, url: Any, allow_private: bool) -> str | None:
    problem = url_problem(url)
    if problem is not None:
        errors.add("url", problem)
        return None
    try:
        await resolve(target_of(url), allow_private=allow_private)
    except TargetRefused as exc:
        errors.add("url", str(exc))
        return None
    return str(url)


def _check_description(errors: FieldErrors, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add("description", "is invalid")
        return None
    if len(value) > DESCRIPTION_MAX_LENGTH:
        errors.add("description", f"is too long (maximum is {DESCRIPTION_MAX_LENGTH} characters)")
    return value


async def create_webhook(
    session: AsyncSession,
    *,
    url: Any,
    events: Any,
    description: Any = None,
    allow_private: bool = False,
) -> tuple[Webhook, str]:
    """Register a webhook; it hears of events committed from now on. Returns the secret."""
    errors = FieldErrors()
    checked_url = await _check_url(errors, url, allow_private)
    kinds = _check_events(errors, events)
    text = _check_description(errors, description)
    errors.raise_if_any()
    secret = new_secret()
    async with write_transaction(session):
        webhook = Webhook(
            url=checked_url,
            events=kinds,
            description=text,
            active=True,
            secret=secret,
            last_event_id=await last_event_id(session),
        )
        session.add(webhook)
        await session.flush()
    _Registry.version += 1
    return webhook, secret


async def get_webhook(session: AsyncSession, webhook_id: int) -> Webhook:
    webhook = await session.get(Webhook, webhook_id, populate_existing=True)
    if webhook is None:
        raise NotFound()
    return webhook


async def list_webhooks(session: AsyncSession) -> list[Webhook]:
    return list((await session.execute(select(Webhook).order_by(Webhook.id))).scalars())


async def update_webhook(
    session: AsyncSession,
    webhook_id: int,
    *,
    url: Any = UNSET,
    events: Any = UNSET,
    active: Any = UNSET,
    description: Any = UNSET,
    allow_private: bool = False,
) -> Webhook:
    errors = FieldErrors()
    checked_url = await _check_url(errors, url, allow_private) if url is not UNSET else None
    kinds = _check_events(errors, events) if events is not UNSET else None
    if active is not UNSET and not isinstance(active, bool):
        errors.add("active", "is invalid")
    text = _check_description(errors, description) if description is not UNSET else None
    errors.raise_if_any()
    async with write_transaction(session):
        webhook = await session.get(
            Webhook, webhook_id, with_for_update=True, populate_existing=True
        )
        if webhook is None:
            raise NotFound()
        if checked_url is not None:
            webhook.url = checked_url
        if kinds is not None:
            webhook.events = kinds
        if active is not UNSET:
            if active and not webhook.active:
                # Paused webhooks miss what happened meanwhile; they resume from now.
                webhook.last_event_id = await last_event_id(session)
            webhook.active = active
        if description is not UNSET:
            webhook.description = text
        await session.flush()
    _Registry.version += 1
    return webhook


async def rotate_secret(session: AsyncSession, webhook_id: int) -> tuple[Webhook, str]:
    secret = new_secret()
    async with write_transaction(session):
        webhook = await session.get(
            Webhook, webhook_id, with_for_update=True, populate_existing=True
        )
        if webhook is None:
            raise NotFound()
        webhook.secret = secret
        await session.flush()
    return webhook, secret


async def delete_webhook(session: AsyncSession, webhook_id: int) -> None:
    async with write_transaction(session):
        webhook = await session.get(Webhook, webhook_id, with_for_update=True)
        if webhook is None:
            raise NotFound()
        await session.delete(webhook)


async def list_deliveries(
    session: AsyncSession, webhook_id: int, *, limit: int = 100
) -> list[WebhookDelivery]:
    await get_webhook(session, webhook_id)
    stmt = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.event_id.desc())
        .limit(max(1, min(limit, 1000)))
    )
    return list((await session.execute(stmt)).scalars())


def _wants(webhook: Webhook, event_type: str) -> bool:
    return ALL_EVENTS in webhook.events or event_type in webhook.events


async def fan_out(session: AsyncSession, *, batch: int = 1000, now: datetime | None = None) -> int:
    """Turn new events into deliveries for every active webhook; how many were made."""
    # Read first: an idle round takes no write lock (on SQLite it would queue the API).
    lowest = (
        await session.execute(select(func.min(Webhook.last_event_id)).where(Webhook.active))
    ).scalar()
    newest = await last_event_id(session)
    await session.rollback()
    if lowest is None or newest <= lowest:
        return 0
    made = 0
    async with write_transaction(session):
        hooks = (
            await session.execute(
                select(Webhook)
                .where(Webhook.active.is_(True))
                .order_by(Webhook.id)
                .with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)
            )
        ).scalars()
        stamp = now or now_utc()
        table: Table = WebhookDelivery.__table__  # type: ignore[assignment]
        for webhook in list(hooks):
            rows = (
                await session.execute(
                    select(AvailabilityEvent.id, AvailabilityEvent.type)
                    .where(AvailabilityEvent.id > webhook.last_event_id)
                    .order_by(AvailabilityEvent.id)
                    .limit(batch)
                )
            ).all()
            if not rows:
                continue
            wanted = [
                {
                    "webhook_id": webhook.id,
                    "event_id": event_id,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": stamp,
                    "created_at": stamp,
                }
                for event_id, event_type in rows
                if _wants(webhook, event_type)
            ]
            if wanted:
                await session.execute(insert(table), wanted)
            webhook.last_event_id = rows[-1][0]
            made += len(wanted)
        await session.flush()
    return made


async def webhooks_with_due_deliveries(
    session: AsyncSession, *, now: datetime | None = None
) -> list[int]:
    stmt = (
        select(WebhookDelivery.webhook_id)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(
            WebhookDelivery.status == PENDING,
            WebhookDelivery.next_attempt_at <= (now or now_utc()),
            Webhook.active.is_(True),
        )
        .distinct()
    )
    ids = list((await session.execute(stmt)).scalars())
    await session.rollback()
    return ids


async def claim_due(
    session: AsyncSession,
    webhook_id: int,
    *,
    limit: int,
    policy: DeliveryPolicy,
    now: datetime | None = None,
) -> list[Claim]:
    """Take up to ``limit`` due attempts of one webhook; no other process gets them."""
    moment = now or now_utc()
    async with write_transaction(session):
        webhook = await session.get(Webhook, webhook_id, populate_existing=True)
        if webhook is None or not webhook.active:
            return []
        rows = list(
            (
                await session.execute(
                    select(WebhookDelivery, AvailabilityEvent)
                    .join(AvailabilityEvent, AvailabilityEvent.id == WebhookDelivery.event_id)
                    .where(
                        WebhookDelivery.webhook_id == webhook_id,
                        WebhookDelivery.status == PENDING,
                        WebhookDelivery.next_attempt_at <= moment,
                    )
                    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                    .limit(limit)
                    .with_for_update(of=WebhookDelivery, skip_locked=True)
                    .execution_options(populate_existing=True)
                )
            ).tuples()
        )
        if not rows:
            return []
        lease = moment + timedelta(seconds=policy.lease_seconds)
        await session.execute(
            update(WebhookDelivery.__table__)  # type: ignore[arg-type]
            .where(WebhookDelivery.id.in_([delivery.id for delivery, _ in rows]))
            .values(next_attempt_at=lease, attempts=WebhookDelivery.attempts + 1)
        )
        claims = [
            Claim(
                delivery_id=delivery.id,
                webhook_id=webhook.id,
                url=webhook.url,
                secret=webhook.secret,
                event_id=event.id,
                event_type=event.type,
                payload=event_payload(event),
                attempt=delivery.attempts + 1,
            )
            for delivery, event in rows
        ]
    return claims


@dataclass(frozen=True, slots=True)
class Outcome:
    claim: Claim
    status_code: int | None
    error: str | None


async def record_attempts(
    session: AsyncSession,
    outcomes: list[Outcome],
    *,
    policy: DeliveryPolicy,
    now: datetime | None = None,
) -> None:
    """Store how attempts went, all in one transaction (one write lock on SQLite)."""
    if not outcomes:
        return
    moment = now or now_utc()
    async with write_transaction(session):
        for outcome in outcomes:
            await _store(session, outcome, policy, moment)


async def _store(
    session: AsyncSession, outcome: Outcome, policy: DeliveryPolicy, moment: datetime
) -> str:
    claim, status_code, error = outcome.claim, outcome.status_code, outcome.error
    ok = status_code is not None and 200 <= status_code < 300
    values: dict[str, Any] = {"last_response_code": status_code, "last_error": error}
    if ok:
        values.update(status=DELIVERED, delivered_at=moment)
    elif claim.attempt >= policy.max_attempts:
        values.update(status=FAILED)
    else:
        values.update(next_attempt_at=moment + policy.next_delay(claim.attempt))
    # A late answer to an attempt whose lease ran out (and was retried) changes nothing.
    await session.execute(
        update(WebhookDelivery.__table__)  # type: ignore[arg-type]
        .where(
            WebhookDelivery.id == claim.delivery_id,
            WebhookDelivery.status == PENDING,
            WebhookDelivery.attempts == claim.attempt,
        )
        .values(**values)
    )
    return str(values.get("status", PENDING))
