"""Every operation is for admins, introspection included: checked once per operation."""

from __future__ import annotations

from collections.abc import AsyncIterator

from graphql import ExecutionResult
from strawberry.extensions import SchemaExtension

from gql.context import Context
from gql.errors import refusal_error


class AdminOnly(SchemaExtension):
    """Refuses the whole operation, before any field resolves, unless the caller is an admin.

    Runs first among the extensions' ``on_execute``, so nothing executes for a stranger:
    not ``__schema`` or ``__typename``, which no resolver of ours guards. The refusal is the
    contract's UNAUTHENTICATED or FORBIDDEN error, once (not once per root field). A
    schema executed without a request context (in-process tools) is trusted.
    """

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        if isinstance(context, Context) and execution.result is None:
            try:
                await context.require_admin()
            except Exception as exc:
                execution.result = ExecutionResult(data=None, errors=[refusal_error(exc, context)])
        yield
