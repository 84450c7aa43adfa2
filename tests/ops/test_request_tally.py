"""The per-request series kept as plain numbers are written exactly as prometheus-client's
own Counter and Histogram write the same observations."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from sqlalchemy.ext.asyncio import create_async_engine

from clinic_availability.ops import LATENCY_BUCKETS, MULTIPROC_ENV, Metrics
from clinic_availability.request_tally import RequestTally, TallyCounter, TallyHistogram

LABEL = st.sampled_from(["GET", "POST", "/v1/x/{id}", 'a "quoted"\\ route\n', "é", ""])
AMOUNT = st.one_of(
    st.sampled_from([0.0, *LATENCY_BUCKETS, 1e-9, 0.0050000001, 11.0, 1e9, -0.5, math.nan]),
    st.floats(min_value=0, max_value=20, allow_nan=False),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(LABEL, LABEL, AMOUNT), max_size=40))
def test_the_tally_writes_what_prometheus_client_writes(
    observations: list[tuple[str, str, float]],
) -> None:
    library = CollectorRegistry(auto_describe=True)
    counter = Counter("t_requests", "Requests", ["a", "b"], registry=library)
    histogram = Histogram("t_seconds", "Seconds", ["a"], buckets=LATENCY_BUCKETS, registry=library)
    tally_counter = TallyCounter("t_requests", "Requests", ["a", "b"])
    tally_histogram = TallyHistogram("t_seconds", "Seconds", ["a"], buckets=LATENCY_BUCKETS)
    ours = CollectorRegistry(auto_describe=True)
    ours.register(RequestTally(tally_counter, tally_histogram))
    for a, b, amount in observations:
        counter.labels(a, b).inc()
        histogram.labels(a).observe(amount)
        tally_counter.labels(a, b).inc()
        tally_histogram.labels(a).observe(amount)
    assert generate_latest(ours) == generate_latest(library)


def test_one_process_keeps_the_request_series_as_plain_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    metrics = Metrics(create_async_engine("sqlite+aiosqlite://"))
    assert isinstance(metrics.requests, TallyCounter)
    assert isinstance(metrics.operation_latency, TallyHistogram)
    cell = metrics.latency.labels("GET", "/x")
    cell.observe(0.02)
    exposition = metrics.exposition().decode()
    assert (
        'clinic_http_request_duration_seconds_bucket{le="0.025",method="GET",route="/x"} 1.0'
        in (exposition)
    )


def test_multiprocess_mode_keeps_the_library_series(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    metrics = Metrics(create_async_engine("sqlite+aiosqlite://"))
    assert isinstance(metrics.requests, Counter)
    assert isinstance(metrics.latency, Histogram)
