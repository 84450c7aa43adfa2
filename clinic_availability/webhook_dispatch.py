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
from collections import Counter, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.event_hub import EventHub
from common.settings import Settings
from models.integrations.webhook_targets import TargetRefused, check_target
from models.integrations.webhooks import (
    Claim,
    DeliveryPolicy,
    Outcome,
    any_active,
    dispatch_step,
    registry_version,
    waiting_work,
)
from models.platform.events import purge_events
from models.platform.timeutil import format_timestamp, now_utc

logger = logging.getLogger("clinic_availability.webhooks")

# Without news, rounds run this often: on SQLite, how soon events another process
# committed are seen.
POLL_SECONDS = 1.0
# However many wake-ups arrive (a NOTIFY per committed event), at most one round this often:
# each round is one write transaction, whatever it stores, fans out and claims.
ROUND_MIN_SECONDS = 0.1
PURGE_EVERY_SECONDS = 3600.0
FIRST_PURGE_SECONDS = 60.0
# With no active webhook, look again this often (or at once after a change made here).
IDLE_CHECK_SECONDS = 2.0
# A round claims about this many seconds of sending per webhook (by its recent sends'
# durations), between one wave (WEBHOOK_CONCURRENCY_PER_RECEIVER) and MAX_CLAIM; claims
# wait in a queue of the process, at most MAX_QUEUED of them in all.
CLAIM_AHEAD_SECONDS = 1.0
MAX_CLAIM = 500
MAX_QUEUED = 5000


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
        self.per_receiver = settings.webhook_concurrency_per_receiver
        self.in_flight: Counter[int] = Counter()
        self.tasks: set[asyncio.Task[None]] = set()
        # Claimed attempts not sent yet, per webhook, each with the moment (monotonic) after
        # which it is given back unsent: its lease would run out before its send could end.
        self.queues: dict[int, deque[tuple[Claim, float]]] = {}
        self.queued = 0
        # Per webhook: how long a send takes (moving average), and whether its last claim
        # got all it asked for (so more may be due).
        self.send_seconds: dict[int, float] = {}
        self.more_due: dict[int, bool] = {}
        self._last_purge = time.monotonic() - PURGE_EVERY_SECONDS + FIRST_PURGE_SECONDS
        self._active = False
        self._checked_at = -IDLE_CHECK_SECONDS
        self._checked_version = -1
        # Answers not stored yet, and claims given back unsent: the next round stores them
        # in its one transaction.
        self.outcomes: list[Outcome] = []
        self.unsent: list[Claim] = []
        self._client: httpx.AsyncClient | None = None
        self._closing = False
        self._nudge = asyncio.Event()
        self._round_generation = -1

    def close(self) -> None:
        """Claim nothing more; :meth:`run` returns once the sends in flight have finished."""
        self._closing = True
        self._nudge.set()

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
                    news, self._round_generation = seen != self._round_generation, seen
                    began = time.monotonic()
                    try:
                        await self.round(news=news)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        logger.warning(
                            "webhook dispatch round failed",
                            extra={"fields": {"exc": type(exc).__name__}},
                        )
                    await self._pause(seen, began)
                # Queued claims go back at once; each send in flight ends within its
                # timeout, and whatever is cut short is sent again once its lease runs out.
                self._give_back_queued()
                if self.tasks:
                    await asyncio.wait(
                        set(self.tasks), timeout=self.settings.webhook_timeout_seconds + 1.0
                    )
            finally:
                for task in list(self.tasks):
                    task.cancel()
                await asyncio.gather(*self.tasks, return_exceptions=True)
                self._give_back_queued()
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._store())

    async def _pause(self, seen: int, began: float) -> None:
        """Until news (events, capacity come free) or the poll interval; never a round
        sooner than ROUND_MIN_SECONDS after the last one began."""
        rest = ROUND_MIN_SECONDS - (time.monotonic() - began)
        if rest > 0 and not self._closing:
            await asyncio.sleep(rest)
        if self._closing or self._nudge.is_set() or self.hub.generation != seen:
            self._nudge.clear()
            return
        hub = asyncio.ensure_future(self.hub.wait(POLL_SECONDS, since=seen))
        nudge = asyncio.ensure_future(self._nudge.wait())
        try:
            await asyncio.wait({hub, nudge}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            hub.cancel()
            nudge.cancel()
        self._nudge.clear()

    async def _store(self) -> None:
        """Outcomes and unsent claims only (shutdown)."""
        if not (self.outcomes or self.unsent):
            return
        outcomes, self.outcomes = self.outcomes, []
        unsent, self.unsent = self.unsent, []
        try:
            async with self.sessionmaker() as session:
                await dispatch_step(
                    session, outcomes=outcomes, unsent=unsent, policy=self.policy, fan_out_batch=0
                )
        except BaseException:
            self.outcomes[:0] = outcomes  # the lease covers a crash
            self.unsent[:0] = unsent
            raise

    async def _idle(self, session: AsyncSession) -> bool:
        """True while no webhook is active: rounds then cost no statement at all."""
        now = time.monotonic()
        stale = now - self._checked_at >= IDLE_CHECK_SECONDS
        if stale or self._checked_version != registry_version():
            self._checked_version = registry_version()
            self._checked_at = now
            self._active = await any_active(session)
        return not (self._active or self.tasks or self.outcomes or self.unsent)

    def _wanted(self, webhook_id: int) -> int:
        """How many due deliveries of this webhook a round claims now."""
        if self._closing:
            return 0
        queued = len(self.queues.get(webhook_id, ()))
        if queued >= self.per_receiver:
            return 0
        seconds = self.send_seconds.get(webhook_id)
        ahead = (
            self.per_receiver
            if seconds is None
            else int(self.per_receiver * CLAIM_AHEAD_SECONDS / max(seconds, 0.001))
        )
        target = max(self.per_receiver, min(MAX_CLAIM, ahead))
        room = MAX_QUEUED - self.queued
        return max(0, min(target - queued - self.in_flight[webhook_id], room))

    async def round(self, *, news: bool = False) -> None:
        """One transaction's worth of work; ``news``: woken by committed events."""
        async with self.sessionmaker() as session:
            await self._purge_now_and_then(session)
            if await self._idle(session):
                return
            if not news:
                # Read first: a round with nothing to write takes no write lock.
                waiting = await waiting_work(session)
                hungry = [w for w in waiting.due_webhooks if self._wanted(w) > 0]
                if not (self.outcomes or self.unsent or waiting.new_events or hungry):
                    return
            outcomes, self.outcomes = self.outcomes, []
            unsent, self.unsent = self.unsent, []
            asked: dict[int, int] = {}

            def wanted(webhook_id: int) -> int:
                asked[webhook_id] = self._wanted(webhook_id)
                return asked[webhook_id]

            try:
                claims = await dispatch_step(
                    session, outcomes=outcomes, unsent=unsent, wanted=wanted, policy=self.policy
                )
            except BaseException:
                self.outcomes[:0] = outcomes  # kept for the next round
                self.unsent[:0] = unsent
                raise
        got: Counter[int] = Counter(claim.webhook_id for claim in claims)
        for webhook_id, count in asked.items():
            self.more_due[webhook_id] = count > 0 and got[webhook_id] >= count
        usable = time.monotonic() + self.policy.lease_seconds - self._send_bound()
        for claim in claims:
            self.queues.setdefault(claim.webhook_id, deque()).append((claim, usable))
        self.queued += len(claims)
        for webhook_id in got:
            self._pump(webhook_id)

    def _send_bound(self) -> float:
        return self.settings.webhook_timeout_seconds + 1.0

    def _pump(self, webhook_id: int) -> None:
        """Start queued sends while this webhook and the process have capacity; none
        once closing (a round that was claiming when :meth:`close` came queues its claims,
        and they go back)."""
        if self._closing:
            return
        queue = self.queues.get(webhook_id)
        now = time.monotonic()
        while (
            queue
            and self.in_flight[webhook_id] < self.per_receiver
            and len(self.tasks) < self.settings.webhook_concurrency
        ):
            claim, usable = queue.popleft()
            self.queued -= 1
            if now > usable:
                self.unsent.append(claim)
            else:
                self._start(claim)
        if not queue:
            self.queues.pop(webhook_id, None)

    def _give_back_queued(self) -> None:
        for queue in self.queues.values():
            self.unsent.extend(claim for claim, _ in queue)
        self.queues.clear()
        self.queued = 0

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
            if self._closing:
                return
            # Capacity came free: the queue's next; a round when the queue runs short.
            if self.queued:
                for webhook_id in list(self.queues):
                    self._pump(webhook_id)
            if len(self.queues.get(claim.webhook_id, ())) < self.per_receiver and (
                self.more_due.get(claim.webhook_id, True)
            ):
                self._nudge.set()

        task.add_done_callback(done)

    async def _deliver(self, claim: Claim) -> None:
        began = time.monotonic()
        status_code, error = await self.send(claim)
        took = time.monotonic() - began
        previous = self.send_seconds.get(claim.webhook_id)
        self.send_seconds[claim.webhook_id] = (
            took if previous is None else 0.8 * previous + 0.2 * took
        )
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
        try:
            checked = await check_target(
                claim.url, allow_private=self.settings.webhook_allow_private_targets
            )
            target = checked.target
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
                _pinned(claim.url, checked.addresses[0]),
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
    from models.platform.db import create_engine
    from models.platform.sessions import create_sessionmaker

    engine = create_engine(
        settings.database_url,
        echo=settings.sql_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        behind_pooler=settings.behind_pooler,
    )
    hub = EventHub(settings.listen_url)
    await hub.start()
    try:
        async with running_dispatcher(create_sessionmaker(engine), settings, hub):
            logger.info("webhook dispatcher started")
            await stop.wait()
            logger.info("webhook dispatcher stopping: sends in flight may finish")
    finally:
        await hub.stop()
        await engine.dispose()
