"""The GraphQL endpoint mounted on FastAPI."""

from __future__ import annotations

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse
from strawberry.fastapi import GraphQLRouter

from clinic_availability.explorer import explorer_page
from clinic_availability.ops import GraphQLOperationTracker
from clinic_availability.settings import Settings
from gql.context import Context, token_from
from gql.schema import build_schema
from rest_compat.deps import SessionDep


class ExplorerRouter(GraphQLRouter[Context, None]):
    """Serves the self-hosted GraphiQL page (no CDN) to browsers that GET /graphql."""

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return explorer_page(request)

    def encode_json(self, data: object) -> bytes:
        # Same JSON as the stdlib's compact form, as the REST routes write it.
        return orjson.dumps(data)


def graphql_router(settings: Settings) -> GraphQLRouter[Context, None]:
    async def context_getter(request: Request, session: SessionDep) -> Context:
        return Context(settings=settings, session=session, token=token_from(request))

    schema = build_schema(settings)
    # Names the operation in the request's log line and metrics.
    schema.extensions = (*schema.extensions, GraphQLOperationTracker)
    return ExplorerRouter(
        schema,
        graphql_ide="graphiql" if settings.graphiql else None,
        context_getter=context_getter,
        subscription_protocols=("graphql-transport-ws",),
    )
