"""``Idempotency-Key`` on GraphQL mutations: the REST guarantee, on the GraphQL face.

A retry with the same key, operation and variables gets the first reply again (header
``Idempotent-Replayed: true``) and writes nothing; the same key with another request is
``VALIDATION_FAILED`` on ``idempotency_key``. Keys are per user and per face (see
``models.platform.idempotency``, which also says why a retry can never write twice).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from graphql import GraphQLError, OperationType, get_operation_ast, parse
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.types import ExecutionResult

from gql.context import Context
from gql.errors import error_extensions
from models.platform import idempotency as keys
from models.platform.errors import Conflict, DomainError, ValidationFailed

IDEMPOTENCY_HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
PATH = "/graphql"
WAIT_FOR_FIRST_SECONDS = 5.0
# Codes of a reply that changed nothing for a reason a retry may not meet again.
FAILED_CODES = frozenset({"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"})


class ReplayedResult(ExecutionResult):
    """The stored reply of the first request with the key, as it was sent."""

    def __init__(self, body: GraphQLHTTPResponse, status: int) -> None:
        super().__init__(data=body.get("data"), errors=None)
        self.body = body
        self.status = status


def _refused(error: DomainError) -> ExecutionResult:
    message = "Validation failed" if isinstance(error.errors, dict) else error.detail
    return ExecutionResult(
        data=None, errors=[GraphQLError(message, extensions=error_extensions(error))]
    )


def _is_mutation(request_data: GraphQLRequestData, max_tokens: int) -> bool:
    if not request_data.query:
        return False
    try:
        document = parse(request_data.query, max_tokens=max_tokens)
    except GraphQLError:
        return False  # answered as the syntax error it is
    operation = get_operation_ast(document, request_data.operation_name)
    return operation is not None and operation.operation == OperationType.MUTATION


def fingerprint(request_data: GraphQLRequestData) -> str:
    """The operation and its variables: what makes two requests the same."""
    body = orjson.dumps(
        {
            "query": request_data.query,
            "operationName": request_data.operation_name,
            "variables": request_data.variables or {},
        },
        option=orjson.OPT_SORT_KEYS,
    )
    return keys.request_fingerprint("POST", PATH, "", body)


async def _reserve(session: AsyncSession, user_id: int, key: str, digest: str) -> keys.Outcome:
    deadline = time.monotonic() + WAIT_FOR_FIRST_SECONDS
    while True:
        outcome = await keys.reserve(
            session,
            user_id=user_id,
            key=key,
            method="POST",
            path=PATH,
            request_hash=digest,
            face=keys.GRAPHQL_FACE,
        )
        if not isinstance(outcome, keys.InProgress) or time.monotonic() >= deadline:
            return outcome
        await asyncio.sleep(0.05)


def _failed(body: GraphQLHTTPResponse) -> bool:
    errors: Any = body.get("errors") or []
    return any((error.get("extensions") or {}).get("code") in FAILED_CODES for error in errors)


async def run_idempotently(
    key: str,
    *,
    user_id: int,
    request_data: GraphQLRequestData,
    context: Context,
    execute: Callable[[], Awaitable[ExecutionResult]],
    reply_body: Callable[[ExecutionResult], tuple[GraphQLHTTPResponse, int]],
) -> ExecutionResult:
    """Run a mutation once per key; a query with a key simply runs."""
    if not _is_mutation(request_data, context.settings.graphql_max_tokens):
        return await execute()
    if not keys.valid_key(key):
        return _refused(ValidationFailed.one("idempotency_key", keys.INVALID_KEY_MESSAGE))
    # Its own session: the reservation commits before the mutation's session starts.
    async with AsyncSession(context.session.bind, expire_on_commit=False) as session:
        outcome = await _reserve(session, user_id, key, fingerprint(request_data))
        if isinstance(outcome, keys.Reserved):
            stored_body = _without_secrets(context.shown_once)
            return await _run(outcome.id, session, execute, reply_body, stored_body)
    if isinstance(outcome, keys.Replay):
        response = getattr(context, "response", None)
        if response is not None:
            response.headers[REPLAYED_HEADER] = "true"
        return ReplayedResult(orjson.loads(outcome.body), outcome.status)
    if isinstance(outcome, keys.Mismatch):
        return _refused(ValidationFailed.one("idempotency_key", keys.MISMATCH_MESSAGE))
    if isinstance(outcome, keys.ReplyLost):
        return _refused(Conflict(keys.REPLY_LOST_MESSAGE))
    return _refused(Conflict(keys.IN_PROGRESS_MESSAGE))


def _without_secrets(secrets: set[str]) -> Callable[[Any], Any]:
    """The reply as stored: every value holding a secret shown once is null (what a
    replay answers, as the REST face leaves the secret out)."""

    def scrub(value: Any) -> Any:
        if isinstance(value, str):
            return None if any(secret in value for secret in secrets) else value
        if isinstance(value, dict):
            return {key: scrub(item) for key, item in value.items()}
        if isinstance(value, list):
            return [scrub(item) for item in value]
        return value

    return lambda body: scrub(body) if secrets else body


async def _run(
    reservation_id: int,
    session: AsyncSession,
    execute: Callable[[], Awaitable[ExecutionResult]],
    reply_body: Callable[[ExecutionResult], tuple[GraphQLHTTPResponse, int]],
    stored_body: Callable[[Any], Any],
) -> ExecutionResult:
    token = keys.active_reservation.set(reservation_id)
    try:
        result = await execute()
    except BaseException:
        await keys.release(session, reservation_id)
        raise
    finally:
        keys.active_reservation.reset(token)
    body, status = reply_body(result)
    if _failed(body) and not await keys.was_changed(session, reservation_id):
        await keys.release(session, reservation_id)
    else:
        stored = orjson.dumps(stored_body(body))
        await keys.complete(session, reservation_id, status=status, body=stored, headers={})
    return result
