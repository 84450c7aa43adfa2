"""Posting GraphQL operations in tests."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

Row = TypeVar("Row")

GRAPHQL = "/graphql"

SLOT_FIELDS = """
    id providerId startTime endTime durationMinutes appointmentType available recurring
    recurrencePattern recurrenceRule seriesId createdAt updatedAt
    provider { id firstName lastName timeZone active }
    capacity bookedCount resourceKind resourceId
"""


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The reply's JSON body; GraphQL answers 200 even when the data carries errors."""
    response = await client.post(
        GRAPHQL, json={"query": query, "variables": variables or {}}, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    """The single error of a reply, asserting there is exactly one."""
    errors = body.get("errors")
    assert errors and len(errors) == 1, body
    error: dict[str, Any] = errors[0]
    return error


def extensions(body: dict[str, Any]) -> dict[str, Any]:
    ext: dict[str, Any] = only_error(body)["extensions"]
    return ext


async def stored(session: AsyncSession, model: type[Row], ident: int) -> Row | None:
    """A row as the database holds it now (the test session's old snapshot is dropped)."""
    await session.rollback()
    return await session.get(model, ident, populate_existing=True)
