"""The webhook dispatcher: fan out, claim, send, record.

It runs in each server process (unless ``WEBHOOK_DISPATCHER=false``) or on its own in
``clinic-availability dispatch-webhooks`` processes, any number of them over one database.
Sends run as their own tasks with a timeout, at most ``WEBHOOK_CONCURRENCY`` at once and
``WEBHOOK_CONCURRENCY_PER_RECEIVER`` per webhook, so a slow or dead receiver only ever
holds its own share; the API's requests never wait on any of it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.event_hub import EventHub
from common.settings import Settings
from models.events import purge_events
from models.timeutil import format_timestamp, now_utc
from models.webhook_targets import TargetRefused, resolve, target_of
from models.webhooks import (
    Claim,
    DeliveryPolicy,
    Outcome,
    any_active,
    claim_due,
    fan_out,
    record_attempts,
    registry_version,
    webhooks_with_due_deliveries,
)

logger = logging.getLogger("clinic_availability.webhooks")

POLL_SECONDS = 1.0
PURGE_EVERY_SECONDS = 3600.0
FIRST_PURGE_SECONDS = 60.0
# With no active webhook, look again this often (or at once after a change made here).
IDLE_CHECK_SECONDS = 10.0


def sign(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """Standard Webhooks ``v1`` signature of ``id.timestamp.body``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def policy_of(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        max_attempts=settings.webhook_max_attempts,
        backoff_seconds=settings.webhook_backoff_seconds,
        lease_seconds=settings.webhook_timeout_seconds * 2 + 5.0,
    )


def _pinned(url: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The URL with its host replaced by the checked address (the Host header keeps the name)."""
    parts = urlsplit(url)
    host = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


class WebhookDispatcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        hub: EventHub,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.hub = hub
        self.policy = policy_of(settings)
        self.in_flight: Counter[int] = Counter()
        self.tasks: set[asyncio.Task[None]] = set()
        self._last_purge = time.monotonic() - PURGE_EVERY_SECONDS + FIRST_PURGE_SECONDS
        self._active = False
        self._checked_at = -IDLE_CHECK_SECONDS
        self._checked_version = -1
        # Answers not stored yet: each round stores them in one transaction.
        self.outcomes: list[Outcome] = []
        self._client: httpx.AsyncClient | None = None
        self._closing = False

    def close(self) -> None:
        """Claim nothing more; :meth:`run` returns once the sends in flight have finished."""
        self._closing = True
        self.hub.poke()

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=self.settings.webhook_concurrency)
        async with httpx.AsyncClient(
            follow_redirects=False,
            timeout=self.settings.webhook_timeout_seconds,
            limits=limits,
            trust_env=False,
        ) as client:
            self._client = client
            try:
                while not self._closing:
                    seen = self.hub.generation
                    try:
                        await self.round()
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        logger.warning(
                            "webhook dispatch round failed",
                            extra={"fields": {"exc": type(exc).__name__}},
                        )
                    await self.hub.wait(POLL_SECONDS, since=seen)
                # Each send ends within its timeout; whatever is cut short is sent again
                # once its lease runs out.
                if self.tasks:
                    await asyncio.wait(
                        set(self.tasks), timeout=self.settings.webhook_timeout_seconds + 1.0
                    )
            finally:
                for task in list(self.tasks):
                    task.cancel()
                await asyncio.gather(*self.tasks, return_exceptions=True)
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._store_outcomes())

    async def _store_outcomes(self) -> None:
        outcomes, self.outcomes = self.outcomes, []
        try:
            async with self.sessionmaker() as session:
                await record_attempts(session, outcomes, policy=self.policy)
        except BaseException:
            self.outcomes[:0] = outcomes  # kept for the next round; the lease covers a crash
            raise

    async def _idle(self, session: AsyncSession) -> bool:
        """True while no webhook is active: rounds then cost no statement at all."""
        now = time.monotonic()
        stale = now - self._checked_at >= IDLE_CHECK_SECONDS
        if stale or self._checked_version != registry_version():
            self._checked_version = registry_version()
            self._checked_at = now
            self._active = await any_active(session)
        return not (self._active or self.tasks)

    async def round(self) -> None:
        await self._store_outcomes()
        async with self.sessionmaker() as session:
            await self._purge_now_and_then(session)
            if await self._idle(session):
                return
            await fan_out(session)
            due = await webhooks_with_due_deliveries(session)
            for webhook_id in due:
                free = min(
                    self.settings.webhook_concurrency_per_receiver - self.in_flight[webhook_id],
                    self.settings.webhook_concurrency - len(self.tasks),
                )
                if free <= 0:
                    continue
                for claim in await claim_due(session, webhook_id, limit=free, policy=self.policy):
                    self._start(claim)

    async def _purge_now_and_then(self, session: AsyncSession) -> None:
        now = time.monotonic()
        if now - self._last_purge < PURGE_EVERY_SECONDS:
            return
        self._last_purge = now
        await purge_events(session, retention_days=self.settings.event_retention_days)

    def _start(self, claim: Claim) -> None:
        self.in_flight[claim.webhook_id] += 1
        task = asyncio.create_task(self._deliver(claim), name=f"webhook-{claim.delivery_id}")
        self.tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self.tasks.discard(finished)
            self.in_flight[claim.webhook_id] -= 1
            # Capacity came free: look for more due deliveries now.
            self.hub.poke()

        task.add_done_callback(done)

    async def _deliver(self, claim: Claim) -> None:
        status_code, error = await self.send(claim)
        self.outcomes.append(Outcome(claim, status_code, error))

    async def send(self, claim: Claim) -> tuple[int | None, str | None]:
        assert self._client is not None
        body = orjson.dumps(
            {
                "type": claim.event_type,
                "timestamp": format_timestamp(now_utc()),
                "data": claim.payload,
            }
        )
        message_id = str(claim.event_id)
        stamp = str(int(time.time()))
        target = target_of(claim.url)
        try:
            addresses = await resolve(
                target, allow_private=self.settings.webhook_allow_private_targets
            )
            headers = {
                "content-type": "application/json",
                "user-agent": "clinic-availability-webhooks/1",
                "host": urlsplit(claim.url).netloc,
                "webhook-id": message_id,
                "webhook-timestamp": stamp,
                "webhook-signature": sign(claim.secret, message_id, stamp, body),
            }
            extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
            response = await self._client.post(
                _pinned(claim.url, addresses[0]),
                content=body,
                headers=headers,
                extensions=extensions,
            )
        except TargetRefused as exc:
            return None, str(exc)[:200]
        except httpx.TimeoutException:
            return None, "timeout"
        except httpx.HTTPError as exc:
            return None, type(exc).__name__
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}"


@asynccontextmanager
async def running_dispatcher(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, hub: EventHub
) -> AsyncIterator[WebhookDispatcher]:
    """A dispatcher running until the block ends; then the sends in flight may finish."""
    dispatcher = WebhookDispatcher(sessionmaker, settings, hub)
    task = asyncio.create_task(dispatcher.run(), name="webhook-dispatcher")
    try:
        yield dispatcher
    finally:
        dispatcher.close()
        try:
            await asyncio.wait({task}, timeout=settings.webhook_timeout_seconds + 5.0)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@asynccontextmanager
async def webhook_dispatch(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, hub: EventHub
) -> AsyncIterator[WebhookDispatcher | None]:
    """Run the dispatcher while the server runs (unless WEBHOOK_DISPATCHER=false)."""
    if not settings.webhook_dispatcher:
        yield None
        return
    async with running_dispatcher(sessionmaker, settings, hub) as dispatcher:
        yield dispatcher


async def dispatch_until(settings: Settings, stop: asyncio.Event) -> None:
    """``dispatch-webhooks``: only the dispatcher (and its wake-ups) until ``stop`` is set.

    On PostgreSQL the hub LISTENs, so events committed by the API's processes wake it at
    once; on SQLite it reads the database every ``POLL_SECONDS``.
    """
    from models.db import create_engine
    from models.sessions import create_sessionmaker

    engine = create_engine(
        settings.database_url,
        echo=settings.sql_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    hub = EventHub(settings.database_url)
    await hub.start()
    try:
        async with running_dispatcher(create_sessionmaker(engine), settings, hub):
            logger.info("webhook dispatcher started")
            await stop.wait()
            logger.info("webhook dispatcher stopping: sends in flight may finish")
    finally:
        await hub.stop()
        await engine.dispose()
