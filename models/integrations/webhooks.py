"""Webhooks: registrations, and their deliveries kept in the database.

Deliveries are made from the event stream by a fan-out that follows each webhook's
position in it (``last_event_id``: ids are in commit order, so nothing is skipped), and
are sent by any number of dispatchers (in server processes or ``dispatch-webhooks``
processes). A dispatcher claims due deliveries under row locks (``SKIP LOCKED`` on
PostgreSQL; on SQLite its write transaction holds the database's one write lock) and
pushes their next attempt past a lease in the same transaction, so no two processes send
the same attempt; a process that dies while sending leaves the delivery to be retried when
the lease runs out (at least once). Each dispatcher round is one write transaction.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.integrations.webhook_targets import TargetRefused, check_target
from models.platform.db import write_transaction
from models.platform.errors import FieldErrors, NotFound
from models.platform.event_tables import AvailabilityEvent, Webhook, WebhookDelivery
from models.platform.events import EVENT_TYPES, event_payload, last_event_id
from models.platform.timeutil import now_utc

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
    try:
        await check_target(url, allow_private=allow_private)
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


def _wants(events: list[str], event_type: str) -> bool:
    return ALL_EVENTS in events or event_type in events


_TABLE: Table = WebhookDelivery.__table__  # type: ignore[assignment]
_EVENTS: Table = AvailabilityEvent.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Outcome:
    claim: Claim
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class WaitingWork:
    """What a dispatcher could do now, read without taking a write lock."""

    new_events: bool
    due_webhooks: list[int]


async def waiting_work(session: AsyncSession, *, now: datetime | None = None) -> WaitingWork:
    """Are there events not yet turned into deliveries, and which webhooks have due ones?"""
    lowest = (
        await session.execute(select(func.min(Webhook.last_event_id)).where(Webhook.active))
    ).scalar()
    newest = await last_event_id(session) if lowest is not None else 0
    due = (
        list((await session.execute(_due_webhooks(now or now_utc()))).scalars())
        if lowest is not None
        else []
    )
    await session.rollback()
    return WaitingWork(new_events=lowest is not None and newest > lowest, due_webhooks=due)


def _due_webhooks(moment: datetime) -> Any:
    return (
        select(WebhookDelivery.webhook_id)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(
            WebhookDelivery.status == PENDING,
            WebhookDelivery.next_attempt_at <= moment,
            Webhook.active.is_(True),
        )
        .distinct()
    )


async def dispatch_step(
    session: AsyncSession,
    *,
    outcomes: Sequence[Outcome] = (),
    unsent: Sequence[Claim] = (),
    wanted: Callable[[int], int] = lambda _webhook_id: 0,
    policy: DeliveryPolicy,
    fan_out_batch: int = 1000,
    now: datetime | None = None,
) -> list[Claim]:
    """One write transaction (one write lock on SQLite) for a dispatcher's whole round.

    Stores how attempts went, gives back claims that were never sent, turns new events
    into deliveries, and claims up to ``wanted(webhook_id)`` due deliveries per webhook.
    """
    moment = now or now_utc()
    async with write_transaction(session):
        await _record(session, outcomes, policy, moment)
        await _give_back(session, unsent, moment)
        if fan_out_batch > 0:
            await _fan_out(session, fan_out_batch, moment)
        claims: list[Claim] = []
        for webhook_id in list((await session.execute(_due_webhooks(moment))).scalars()):
            limit = wanted(webhook_id)
            if limit > 0:
                claims += await _claim(session, webhook_id, limit, policy, moment)
    return claims


async def _fan_out(session: AsyncSession, batch: int, moment: datetime) -> int:
    """Turn new events into deliveries for every active webhook; how many were made."""
    hooks = (
        await session.execute(
            select(Webhook.id, Webhook.events, Webhook.last_event_id)
            .where(Webhook.active.is_(True))
            .order_by(Webhook.id)
            .with_for_update(skip_locked=True)
        )
    ).all()
    made = 0
    for webhook_id, events, position in hooks:
        rows = (
            await session.execute(
                select(AvailabilityEvent.id, AvailabilityEvent.type)
                .where(AvailabilityEvent.id > position)
                .order_by(AvailabilityEvent.id)
                .limit(batch)
            )
        ).all()
        if not rows:
            continue
        wanted = [
            {
                "webhook_id": webhook_id,
                "event_id": event_id,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": moment,
                "created_at": moment,
            }
            for event_id, event_type in rows
            if _wants(events, event_type)
        ]
        if wanted:
            await session.execute(insert(_TABLE), wanted)
        await session.execute(
            update(Webhook.__table__)  # type: ignore[arg-type]
            .where(Webhook.id == webhook_id)
            .values(last_event_id=rows[-1][0])
        )
        made += len(wanted)
    return made


async def _claim(
    session: AsyncSession, webhook_id: int, limit: int, policy: DeliveryPolicy, moment: datetime
) -> list[Claim]:
    """Take up to ``limit`` due attempts of one webhook; no other process gets them."""
    webhook = (
        await session.execute(
            select(Webhook.url, Webhook.secret).where(Webhook.id == webhook_id, Webhook.active)
        )
    ).first()
    if webhook is None:
        return []
    rows = (
        await session.execute(
            select(
                WebhookDelivery.id.label("delivery_id"),
                WebhookDelivery.attempts.label("delivery_attempts"),
                *_EVENTS.c,
            )
            .join_from(_TABLE, _EVENTS, _EVENTS.c.id == WebhookDelivery.event_id)
            .where(
                WebhookDelivery.webhook_id == webhook_id,
                WebhookDelivery.status == PENDING,
                WebhookDelivery.next_attempt_at <= moment,
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
            .with_for_update(of=_TABLE, skip_locked=True)
        )
    ).all()
    if not rows:
        return []
    await session.execute(
        update(_TABLE)
        .where(_TABLE.c.id.in_([row.delivery_id for row in rows]))
        .values(
            next_attempt_at=moment + timedelta(seconds=policy.lease_seconds),
            attempts=_TABLE.c.attempts + 1,
        )
    )
    return [
        Claim(
            delivery_id=row.delivery_id,
            webhook_id=webhook_id,
            url=webhook.url,
            secret=webhook.secret,
            event_id=row.id,
            event_type=row.type,
            payload=event_payload(row),
            attempt=row.delivery_attempts + 1,
        )
        for row in rows
    ]


# A late answer to an attempt whose lease ran out (and was retried) changes nothing: every
# write below is for the claimed attempt only.
_CLAIMED_ATTEMPT = update(_TABLE).where(
    _TABLE.c.id == bindparam("b_id"),
    _TABLE.c.status == PENDING,
    _TABLE.c.attempts == bindparam("b_attempt"),
)
_RETRY = _CLAIMED_ATTEMPT.values(
    next_attempt_at=bindparam("b_next"),
    last_response_code=bindparam("b_code"),
    last_error=bindparam("b_error"),
)
_SETTLE = _CLAIMED_ATTEMPT.values(
    status=bindparam("b_status"),
    delivered_at=bindparam("b_delivered"),
    last_response_code=bindparam("b_code"),
    last_error=bindparam("b_error"),
)
_GIVE_BACK = _CLAIMED_ATTEMPT.values(
    next_attempt_at=bindparam("b_next"), attempts=_TABLE.c.attempts - 1
)


async def _record(
    session: AsyncSession, outcomes: Sequence[Outcome], policy: DeliveryPolicy, moment: datetime
) -> None:
    """How attempts went: one statement per kind, each run for all its rows at once."""
    retry: list[dict[str, Any]] = []
    settle: list[dict[str, Any]] = []
    for outcome in outcomes:
        claim, code = outcome.claim, outcome.status_code
        row = {
            "b_id": claim.delivery_id,
            "b_attempt": claim.attempt,
            "b_code": code,
            "b_error": outcome.error,
        }
        if code is not None and 200 <= code < 300:
            settle.append({**row, "b_status": DELIVERED, "b_delivered": moment})
        elif claim.attempt >= policy.max_attempts:
            settle.append({**row, "b_status": FAILED, "b_delivered": None})
        else:
            retry.append({**row, "b_next": moment + policy.next_delay(claim.attempt)})
    if retry:
        await session.execute(_RETRY, retry)
    if settle:
        await session.execute(_SETTLE, settle)


async def _give_back(session: AsyncSession, claims: Sequence[Claim], moment: datetime) -> None:
    """Claims never sent are due again at once, their attempt not counted."""
    if claims:
        await session.execute(
            _GIVE_BACK,
            [{"b_id": c.delivery_id, "b_attempt": c.attempt, "b_next": moment} for c in claims],
        )
