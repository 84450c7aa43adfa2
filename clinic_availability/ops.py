"""Operations: liveness, readiness, Prometheus metrics.

``/healthz`` answers while the process serves requests. ``/readyz`` answers 200 only when
the database is reachable and its schema is at the latest migration. ``/metrics`` is the
Prometheus text format. Under ``serve --workers N`` the workers count into files of one
folder (prometheus-client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``), and a scrape
through the shared port reports all of them. With ``METRICS_TOKEN`` set, a scrape needs
``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.extensions import SchemaExtension

from clinic_availability.logging import RequestInfo, request_info_var
from clinic_availability.migrate import head_revision
from clinic_availability.request_tally import RequestTally, TallyCounter, TallyHistogram
from common.settings import Settings
from gql.plan.extension import FALLBACK_REASONS
from models.platform.errors import Unauthenticated
from rest_compat.responses import JSONBody

logger = logging.getLogger("clinic_availability.ops")

# The *_created series double the output and no dashboard here reads them.
disable_created_metrics()

# Clients may send any method token; other ones share one label value.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Operation names come from clients: keep the label set bounded.
MAX_OPERATION_NAMES = 200
OTHER_OPERATION = "other"
_OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class PoolCollector(Collector):
    """Connections of the engine's pool, read at scrape time."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self.engine.pool
        size = GaugeMetricFamily(
            "clinic_db_pool_size", "Connections the pool keeps open at most (without overflow)"
        )
        connections = GaugeMetricFamily(
            "clinic_db_pool_connections", "Pool connections by state", labels=["state"]
        )
        readings = {
            "checked_out": getattr(pool, "checkedout", None),
            "idle": getattr(pool, "checkedin", None),
            "overflow": getattr(pool, "overflow", None),
        }
        pool_size = getattr(pool, "size", None)
        if callable(pool_size):
            size.add_metric([], float(pool_size()))
        for state, reading in readings.items():
            if callable(reading):
                connections.add_metric([state], float(max(reading(), 0)))
        yield size
        yield connections


class Metrics:
    """One application's Prometheus registry (own per app, so tests can build many)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Multiprocess mode: counters live in files shared by the workers; a scrape reads
        # them all (the pool gauges stay this worker's own). Otherwise the per-request
        # series are plain numbers (``request_tally``).
        shared = bool(os.environ.get(MULTIPROC_ENV))
        counter: Any = Counter if shared else TallyCounter
        histogram: Any = Histogram if shared else TallyHistogram
        registry = {"registry": self.registry} if shared else {}
        self.requests = counter(
            "clinic_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            **registry,
        )
        self.latency = histogram(
            "clinic_http_request_duration_seconds",
            "HTTP request duration by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            **registry,
        )
        self.operations = counter(
            "clinic_graphql_operations",
            "GraphQL operations by name, type and outcome",
            ["operation", "type", "outcome"],
            **registry,
        )
        self.operation_latency = histogram(
            "clinic_graphql_operation_duration_seconds",
            "GraphQL request duration by operation name and type",
            ["operation", "type"],
            buckets=LATENCY_BUCKETS,
            **registry,
        )
        if not shared:
            self.registry.register(
                RequestTally(self.requests, self.latency, self.operations, self.operation_latency)
            )
        self.plan_fallbacks = Counter(
            "clinic_graphql_plan_fallbacks",
            "GraphQL root fields the database renders, answered otherwise, by reason "
            "(declined: a selection it does not render; render_failed)",
            ["reason"],
            registry=self.registry,
        )
        for reason in FALLBACK_REASONS:  # every reason's series from the start, at 0
            self.plan_fallbacks.labels(reason)
        pool = PoolCollector(engine)
        self.registry.register(pool)
        self.exposed = self.registry
        if shared:
            self.exposed = CollectorRegistry(auto_describe=True)
            MultiProcessCollector(self.exposed)
            self.exposed.register(pool)
        self._operation_names: set[str] = set()
        self._http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        # Bounded: operation names are capped (MAX_OPERATION_NAMES), types and outcomes few.
        self._operation_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def _operation_label(self, name: str | None) -> str:
        if not name:
            return "anonymous"
        if name in self._operation_names:
            return name
        if not _OPERATION_NAME.fullmatch(name) or len(self._operation_names) >= MAX_OPERATION_NAMES:
            return OTHER_OPERATION
        self._operation_names.add(name)
        return name

    def observe(self, info: RequestInfo) -> None:
        # Children by label values, cached: labels() takes a lock and builds keys each call.
        method = info.method if info.method in HTTP_METHODS else "OTHER"
        key = (method, info.route, info.status)
        children = self._http_children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, info.route, str(info.status)),
                self.latency.labels(method, info.route),
            )
            self._http_children[key] = children
        children[0].inc()
        children[1].observe(info.duration_s)
        if info.graphql_operation_type is not None:
            name = self._operation_label(info.graphql_operation)
            outcome = "error" if info.graphql_errors or info.status >= 400 else "ok"
            op_key = (name, info.graphql_operation_type, outcome)
            op_children = self._operation_children.get(op_key)
            if op_children is None:
                op_children = (
                    self.operations.labels(*op_key),
                    self.operation_latency.labels(name, info.graphql_operation_type),
                )
                self._operation_children[op_key] = op_children
            op_children[0].inc()
            op_children[1].observe(info.duration_s)

    def plan_fallback(self, reason: str) -> None:
        """One rendering fallback; ``reason`` is one of a few fixed words, never text of
        the document."""
        self.plan_fallbacks.labels(reason if reason in FALLBACK_REASONS else "other").inc()

    def exposition(self) -> bytes:
        return generate_latest(self.exposed)


def note_refused_operation(name: str | None, kind: str) -> None:
    """An operation refused before it ran (the caller is not an admin), for the log
    line and metrics, as :class:`GraphQLOperationTracker` notes the others."""
    info = request_info_var.get()
    if info is not None:
        info.graphql_operation, info.graphql_operation_type = name, kind
        info.graphql_errors = True


class GraphQLOperationTracker(SchemaExtension):
    """Tells the request's log line and metrics which GraphQL operation ran."""

    def on_operation(self) -> Iterator[None]:
        yield
        info = request_info_var.get()
        if info is None:
            return
        context = self.execution_context
        try:
            info.graphql_operation = context.operation_name
            info.graphql_operation_type = context.operation_type.value
        except Exception:
            # A document that does not parse has no operation.
            info.graphql_operation_type = "invalid"
        result = context.result
        info.graphql_errors = bool(context.pre_execution_errors) or bool(
            result is not None and result.errors
        )


@cache
def _head(database_url: str) -> str | None:
    return head_revision(database_url)


async def _schema_revisions(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
        return {str(row[0]) for row in rows}


async def readiness(engine: AsyncEngine, settings: Settings) -> tuple[bool, dict[str, str]]:
    """Whether the database answers within the timeout and its schema is at head."""
    checks = {"database": "ok", "migrations": "ok"}
    try:
        async with asyncio.timeout(settings.readiness_timeout_seconds):
            revisions = await _schema_revisions(engine)
    except TimeoutError:
        checks["database"] = "timeout"
        checks["migrations"] = "unknown"
        return False, checks
    except Exception as exc:
        # A missing alembic_version table means the database answered but was never
        # migrated; anything else means it did not answer.
        message = type(exc).__name__
        logger.warning("readiness check failed", extra={"fields": {"exc_type": message}})
        never_migrated = "alembic_version" in str(getattr(exc, "orig", exc)).lower()
        checks["database"] = "ok" if never_migrated else "unreachable"
        checks["migrations"] = "missing" if never_migrated else "unknown"
        return False, checks
    head = await asyncio.to_thread(_head, settings.database_url)
    if revisions != {head}:
        checks["migrations"] = "behind"
        return False, checks
    return True, checks


def ops_router() -> APIRouter:
    router = APIRouter(tags=["Operations"])

    @router.get("/healthz", summary="Liveness: the process is up")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: database reachable and schema at the latest migration",
        responses={503: {"description": "Not ready; `checks` says which check failed"}},
    )
    async def readyz(request: Request) -> JSONBody:
        ready, checks = await readiness(request.app.state.engine, request.app.state.settings)
        body = {"status": "ready" if ready else "unavailable", "checks": checks}
        return JSONBody(body, status_code=200 if ready else 503)

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        registry: Metrics | None = getattr(request.app.state, "metrics", None)
        if registry is None:
            return JSONBody({"errors": "Not found"}, status_code=404)
        expected: bytes | None = request.app.state.metrics_authorization
        if expected is not None:
            given = request.headers.get("authorization", "").encode("latin-1")
            if not hmac.compare_digest(given, expected):
                return JSONBody(
                    Unauthenticated().body(),
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router


def install_operations(app: FastAPI, engine: AsyncEngine, settings: Settings) -> None:
    if settings.metrics_enabled:
        app.state.metrics = Metrics(engine)
    token = settings.metrics_token
    app.state.metrics_authorization = f"Bearer {token}".encode("latin-1") if token else None
    app.include_router(ops_router())
