"""The PostGraphile comparison's request and its reading of each target's page (no npm)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson
import pytest

from bench.build_db import BenchData, sqlite_target
from bench.peer import POSTGRAPHILE_QUERY, _page_of, postgraphile_request
from bench.workloads import PAGE, rest_list


def _data() -> BenchData:
    return BenchData(
        target=sqlite_target(Path("unused.db")),
        slots=1000,
        providers=1,
        patients=10,
        token="t",
        first_day=date(2030, 1, 7),
        build_seconds=0.0,
        reused=True,
    )


async def test_postgraphile_asks_for_the_rest_list_s_week() -> None:
    data = _data()
    rest = await rest_list(data, "api", 0)
    assert rest is not None
    assert "start_date=2030-01-14&end_date=2030-01-20" in rest.build(1).path

    body = orjson.loads(postgraphile_request(data, 1).body or b"")

    assert body["query"] == POSTGRAPHILE_QUERY
    assert body["variables"] == {
        "first": PAGE,
        "start": "2030-01-14T00:00:00+00:00",
        "end": "2030-01-21T00:00:00+00:00",
    }
    assert "orderBy: [START_TIME_ASC, ID_ASC]" in POSTGRAPHILE_QUERY
    assert "totalCount" in POSTGRAPHILE_QUERY


def test_each_target_s_page_reads_as_ids_and_total() -> None:
    rest = [{"id": 3}, {"id": 5}]
    graphql = {"data": {"any": {"totalCount": 9, "edges": [{"node": {"id": 3}}]}}}
    assert _page_of("rest", 200, rest, "9") == ([3, 5], 9)
    assert _page_of("floor", 200, rest, "9") == ([3, 5], 9)
    assert _page_of("postgraphile", 200, graphql, None) == ([3], 9)
    with pytest.raises(RuntimeError, match="answered 500"):
        _page_of("rest", 500, {}, None)
    with pytest.raises(RuntimeError, match="answered errors"):
        _page_of("graphql", 200, {"errors": [{"message": "no"}]}, None)
