"""The GraphQL endpoint mounted on FastAPI."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.requests import HTTPConnection
from strawberry.extensions import SchemaExtension
from strawberry.fastapi import GraphQLRouter

from common.deps import SessionDep
from common.settings import Settings
from gql.context import Context, token_from
from gql.live_ws import MAX_SUBSCRIPTIONS_PER_SOCKET, LiveWSHandler
from gql.schema import build_schema

IdePage = Callable[[Request], HTMLResponse]


class ExplorerRouter(GraphQLRouter[Context, None]):
    """Serves the application's own GraphiQL page to browsers that GET /graphql."""

    ide_page: IdePage | None = None
    graphql_transport_ws_handler_class = LiveWSHandler

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        if self.ide_page is not None:
            return self.ide_page(request)
        return await super().render_graphql_ide(request)

    def encode_json(self, data: object) -> bytes:
        # Same JSON as the stdlib's compact form, as the REST routes write it.
        return orjson.dumps(data)


def graphql_router(
    settings: Settings,
    *,
    ide_page: IdePage | None = None,
    extensions: Sequence[type[SchemaExtension]] = (),
) -> GraphQLRouter[Context, None]:
    """The router; the application passes its explorer page and observing extensions."""

    async def context_getter(request: HTTPConnection, session: SessionDep) -> Context:
        return Context(settings=settings, session=session, token=token_from(request))

    schema = build_schema(settings)
    schema.extensions = (*schema.extensions, *extensions)
    router = ExplorerRouter(
        schema,
        graphql_ide="graphiql" if settings.graphiql else None,
        context_getter=context_getter,
        subscription_protocols=("graphql-transport-ws",),
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_SOCKET,
    )
    router.ide_page = ide_page
    return router
