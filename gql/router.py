"""The GraphQL endpoint mounted on FastAPI."""

from __future__ import annotations

from fastapi import Request
from strawberry.fastapi import GraphQLRouter

from clinic_availability.settings import Settings
from gql.context import Context, token_from
from gql.schema import build_schema
from rest_compat.deps import SessionDep


def graphql_router(settings: Settings) -> GraphQLRouter[Context, None]:
    async def context_getter(request: Request, session: SessionDep) -> Context:
        return Context(settings=settings, session=session, token=token_from(request))

    return GraphQLRouter(
        build_schema(settings),
        graphql_ide="graphiql" if settings.graphiql else None,
        context_getter=context_getter,
        subscription_protocols=("graphql-transport-ws",),
    )
