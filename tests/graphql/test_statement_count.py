"""A page of slots with their providers costs the same SQL whatever its size."""

from __future__ import annotations

from datetime import timedelta

from tests.factories import future
from tests.graphql.helpers import gql
from tests.statements import counted_statements

PAGE = """query($first: Int!) {
  availableSlots(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id startTime provider { id firstName lastName timeZone } } }
  }
}"""


async def test_page_of_slots_costs_constant_statements(app, client, auth, factory):
    providers = [await factory.provider(f"P{i}", "X") for i in range(10)]
    start = future(24)
    for index in range(60):
        provider = providers[index % len(providers)]
        await factory.slot(provider, start=start + timedelta(hours=index))
    await gql(client, PAGE, {"first": 1}, auth)  # the token's first use is recorded once

    counts = {}
    for first in (5, 50):
        with counted_statements(app) as statements:
            body = await gql(client, PAGE, {"first": first}, auth)
        connection = body["data"]["availableSlots"]
        assert len(connection["edges"]) == first
        assert len({edge["node"]["provider"]["id"] for edge in connection["edges"]}) == min(
            first, 10
        )
        counts[first] = len(statements)
    print("statements per page:", counts)
    assert counts[5] == counts[50]
    # Authentication, the count and the page with its providers (plus BEGIN on SQLite).
    assert counts[5] <= 4, counts
