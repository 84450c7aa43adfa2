"""The second reference: the served GraphQL schema with Strawberry's defaults.

Same types, same root fields, same context and safety extensions, but no parser or
validation cache, no compiled plan (graphql-core executes every field, so nothing is
rendered by the database), the stdlib ``json`` encoder, and every field resolved through an
async resolver (what a schema of ``async def`` fields costs). The bench mounts it at
``/graphql-defaults`` to show what the served configuration gains.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import strawberry
from fastapi import Request
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.fastapi import GraphQLRouter

from common.deps import SessionDep
from common.settings import Settings
from gql.context import Context, token_from
from gql.plan.extension import CompiledPlan
from gql.router import graphql_router

# What the served configuration adds to Strawberry's defaults.
SERVED_ONLY = (ParserCache, ValidationCache, CompiledPlan)


class AsyncLeaves(SchemaExtension):
    """Every field goes through an awaited resolver, as with ``async def`` leaf fields."""

    async def resolve(
        self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any
    ) -> Any:
        result = _next(root, info, *args, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result


def _served_only(extension: Any) -> bool:
    if isinstance(extension, type):
        return issubclass(extension, SERVED_ONLY)
    if isinstance(extension, SERVED_ONLY):
        return True
    try:
        return isinstance(extension(), SERVED_ONLY)
    except TypeError:
        return False


def defaults_schema(settings: Settings) -> strawberry.Schema:
    """The schema exactly as served, less its caches and compiled plans, plus async
    resolution of every field.

    The served limits extension keeps parsed documents and validation results in LRU
    caches of ``graphql_cache_size`` entries; a size of 0 turns both off.
    """
    uncached = settings.model_copy(update={"graphql_cache_size": 0})
    schema = graphql_router(uncached).schema
    assert isinstance(schema, strawberry.Schema)
    kept = [extension for extension in schema.extensions if not _served_only(extension)]
    schema.extensions = (*kept, AsyncLeaves)
    return schema


def defaults_router(settings: Settings) -> GraphQLRouter[Context, None]:
    async def context_getter(request: Request, session: SessionDep) -> Context:
        return Context(settings=settings, session=session, token=token_from(request))

    return GraphQLRouter(defaults_schema(settings), graphql_ide=None, context_getter=context_getter)
