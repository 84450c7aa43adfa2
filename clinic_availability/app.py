"""The FastAPI application: REST compatibility routes and GraphQL over one core."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache

from fastapi import FastAPI
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from clinic_availability.calendar_syncs import calendar_syncs
from clinic_availability.collector import freeze_startup_objects
from clinic_availability.docs import docs_router, install_openapi
from clinic_availability.explorer import explorer_page
from clinic_availability.hold_sweeper import hold_sweeper
from clinic_availability.horizon import periodic_extension
from clinic_availability.landing import landing_router
from clinic_availability.logging import request_info_var
from clinic_availability.ops import (
    GraphQLOperationTracker,
    install_operations,
    note_refused_operation,
)
from clinic_availability.pages import STATIC_PATH, mount_static
from clinic_availability.pipeline import Cors, PipelinedApp, RequestPipeline
from clinic_availability.webhook_dispatch import webhook_dispatch
from common.event_hub import EventHub
from common.settings import Settings, get_settings
from gql.fast_post import FastQueries
from gql.post_lane import GraphQLPostLane
from gql.router import ExplorerRouter, graphql_router
from gql.schema import plan_cache
from models.platform.db import create_engine, create_read_engine
from models.platform.sessions import create_sessionmaker
from models.platform.users import flush_last_use
from rest_compat.errors import install_error_handlers
from rest_compat.fast_reads import FastSlotReads
from rest_compat.fast_writes import FastWrites
from rest_compat.fhir import router as fhir_router
from rest_compat.guards import install_request_guards
from rest_compat.idempotency import document_idempotency_header
from rest_compat.responses import JSONBody
from rest_compat.router import BASE_PATH, legacy_router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = create_engine(
        settings.database_url,
        echo=settings.sql_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        behind_pooler=settings.behind_pooler,
    )
    # A :memory: database lives in one connection: a second engine would open another.
    # Reads hold a connection for one statement: a fixed set serves them (connections
    # opened beyond it would be closed again as soon as load dips, and reopened).
    read_engine = (
        create_read_engine(
            settings.database_url,
            engine,
            pool_size=settings.db_pool_size,
            max_overflow=0,
            behind_pooler=settings.behind_pooler,
        )
        if engine.url.database not in (None, "", ":memory:")
        else None
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        freeze_startup_objects()
        hub: EventHub = _app.state.event_hub
        await hub.start()
        try:
            async with (
                periodic_extension(_app.state.sessionmaker, settings),
                hold_sweeper(_app.state.sessionmaker, settings),
                webhook_dispatch(_app.state.sessionmaker, settings, hub) as dispatcher,
                calendar_syncs(_app.state.sessionmaker, settings),
            ):
                _app.state.webhook_dispatcher = dispatcher
                yield
        finally:
            await hub.stop()
        await flush_last_use()
        await engine.dispose()

    # PipelinedApp: FastAPI with the request pipeline outside everything else.
    app = PipelinedApp(
        title="Clinic Availability Admin API",
        version="1.0.0",
        description=(
            "Publish when providers are available and book patients into those slots. "
            "Every route needs an admin token in `X-User-Token` or `Authorization: Bearer`."
        ),
        default_response_class=JSONBody,
        lifespan=lifespan,
        telemetry=None
        if settings.opentelemetry
        else {"tracing": False, "metrics": False, "logs": False},
        # /docs is the self-hosted page below; FastAPI's own pages load from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.read_engine = read_engine
    app.state.sessionmaker = create_sessionmaker(engine, read_engine=read_engine)
    app.state.event_hub = EventHub(settings.listen_url)
    install_error_handlers(app)
    install_request_guards(app, settings, BASE_PATH)
    # GraphQL first: routes are tried in order, and /graphql takes most of the traffic.
    graphql = graphql_router(
        settings, ide_page=explorer_page, extensions=(GraphQLOperationTracker,)
    )
    graphql.refusal_observer = note_refused_operation
    app.include_router(graphql, prefix="/graphql", include_in_schema=False)
    # The compiled plans and their counters (rendered root fields, fallbacks).
    app.state.graphql_plan = plan_cache(graphql.schema)
    app.router.routes.extend(_legacy_and_fhir_routes())
    install_operations(app, engine, settings)
    metrics = getattr(app.state, "metrics", None)
    if app.state.graphql_plan is not None and metrics is not None:
        app.state.graphql_plan.on_fallback = metrics.plan_fallback
    app.include_router(docs_router())
    app.include_router(landing_router())
    install_openapi(app)
    document_idempotency_header(app, BASE_PATH)
    mount_static(app)
    install_pipeline(app, settings, graphql)
    return app


def install_pipeline(app: FastAPI, settings: Settings, graphql: ExplorerRouter) -> None:
    metrics = getattr(app.state, "metrics", None)
    cors = Cors(settings.cors_allow_origins.split(","))

    def pipeline(inner: ASGIApp) -> ASGIApp:
        if settings.fast_lane:
            # The lanes take disjoint requests (POST writes, POST /graphql, GET reads):
            # the reads, the most frequent, pass no other lane's check.
            inner = app.state.hot_writes = FastWrites(
                inner,
                sessionmaker=app.state.sessionmaker,
                settings=settings,
                base_path=BASE_PATH,
            )
            inner = GraphQLPostLane(
                inner,
                router=graphql,
                sessionmaker=app.state.sessionmaker,
                path="/graphql",
                fast=fast_queries(app, settings, graphql),
            )
            inner = app.state.slot_reads = FastSlotReads(
                inner,
                sessionmaker=app.state.sessionmaker,
                settings=settings,
                base_path=BASE_PATH,
            )
        return RequestPipeline(
            inner,
            max_body_bytes=settings.max_body_bytes,
            cors=cors,
            static_prefix=f"{STATIC_PATH}/",
            observe=metrics.observe if metrics is not None else None,
        )

    app.state.pipeline = pipeline


def fast_queries(app: FastAPI, settings: Settings, graphql: ExplorerRouter) -> FastQueries | None:
    """Compiled queries answered without the GraphQL view, when rendering is on."""
    cache = app.state.graphql_plan
    if cache is None or not settings.graphql_rendered_json or graphql.make_context is None:
        return None
    fast = FastQueries(
        schema=graphql.schema._schema,  # type: ignore[attr-defined]
        cache=cache,
        make_context=graphql.make_context,
        sessionmaker=app.state.sessionmaker,
        settings=settings,
        on_answer=note_query,
        documents=graphql.documents,
    )
    app.state.graphql_fast = fast
    return fast


def note_query(operation_name: str | None) -> None:
    """What GraphQLOperationTracker tells the log line and metrics, for a fast answer."""
    info = request_info_var.get()
    if info is not None:
        info.graphql_operation = operation_name
        info.graphql_operation_type = "query"
        info.graphql_errors = False


@cache
def _legacy_and_fhir_routes() -> tuple[BaseRoute, ...]:
    """The REST and FHIR routes, built once per process and shared by every app made in it.

    They depend on no setting (each request finds its engine and settings in the app's
    state), and FastAPI builds an included route's dependencies and body models again for
    every app that includes it: about a fifth of a second of CPU per app, which the test
    suite, making an app per test, paid some thousands of times.
    """
    prototype = FastAPI(default_response_class=JSONBody, docs_url=None, redoc_url=None)
    before = len(prototype.router.routes)
    prototype.include_router(legacy_router())
    prototype.include_router(fhir_router)
    return tuple(prototype.router.routes[before:])
