"""Root fields of one operation take turns on the request's database session.

graphql-core resolves the root fields of a query concurrently, but an ``AsyncSession``
allows one operation at a time; a query asking for two lists at once would otherwise
fail. Mutations are serial already. Nested fields are plain data and are not held.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from inspect import isawaitable
from typing import Any

from graphql import GraphQLResolveInfo
from strawberry.extensions import SchemaExtension


class SerialRootFields(SchemaExtension):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._turn = asyncio.Lock()

    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if info.path.prev is not None:
            return _next(root, info, *args, **kwargs)
        return self._in_turn(_next, root, info, *args, **kwargs)

    async def _in_turn(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        async with self._turn:
            result = _next(root, info, *args, **kwargs)
            if isawaitable(result):
                result = await result
            return result
