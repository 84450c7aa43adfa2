"""The FastAPI application: REST compatibility routes and GraphQL over one core."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from clinic_availability.settings import Settings, get_settings
from gql.router import graphql_router
from models.db import create_engine, create_sessionmaker
from rest_compat.errors import install_error_handlers
from rest_compat.responses import JSONBody
from rest_compat.router import legacy_router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = create_engine(
        settings.database_url,
        echo=settings.sql_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(
        title="Clinic Availability Admin API",
        version="1.0.0",
        description=(
            "Publish when providers are available and book patients into those slots. "
            "Every route needs an admin token in `X-User-Token`."
        ),
        default_response_class=JSONBody,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    install_error_handlers(app)
    app.include_router(legacy_router())
    app.include_router(graphql_router(settings), prefix="/graphql", include_in_schema=False)
    return app
