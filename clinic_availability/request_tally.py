"""Per-request counters and latency histograms kept as plain numbers.

prometheus-client's ``Counter`` and ``Histogram`` take a lock and check their state on
every increment: a few microseconds a request for the four series the pipeline records.
One event loop records these, so a count is a list slot and a bucket an index found by
``bisect``. At scrape time :class:`RequestTally` writes them as the library's own
metrics write theirs (same families, label order, bucket bounds and float formatting;
a test compares the two expositions). Under multiprocess mode the library's metrics stay,
since their values live in files every worker's scrape reads.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from math import inf

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString


class TallyCounter:
    """A labelled counter: one count per label values, in order of first use."""

    __slots__ = ("documentation", "labels_names", "name", "values")

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels_names = tuple(labels)
        self.values: dict[tuple[str, ...], CounterCell] = {}

    def labels(self, *values: str) -> CounterCell:
        """The count of these label values (as ``Counter.labels``)."""
        cell = self.values.get(values)
        if cell is None:
            cell = self.values[values] = CounterCell()
        return cell

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels_names)
        for values, cell in self.values.items():
            family.add_metric(list(values), cell.value)
        return family


class CounterCell:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class TallyHistogram:
    """A labelled histogram: per label values, counts per bucket and the sum."""

    __slots__ = ("bounds", "documentation", "labels_names", "name", "values")

    def __init__(
        self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labels_names = tuple(labels)
        self.bounds = (*sorted(float(b) for b in buckets if b != inf), inf)
        self.values: dict[tuple[str, ...], HistogramCell] = {}

    def labels(self, *values: str) -> HistogramCell:
        """The histogram of these label values (as ``Histogram.labels``)."""
        cell = self.values.get(values)
        if cell is None:
            cell = self.values[values] = HistogramCell(self.bounds)
        return cell

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels_names)
        for values, cell in self.values.items():
            acc = 0.0
            buckets = []
            for bound, count in zip(self.bounds, cell.counts, strict=True):
                acc += count
                buckets.append((floatToGoString(bound), acc))
            family.add_metric(list(values), buckets, cell.sum)
        return family


class HistogramCell:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0.0] * len(bounds)
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        """As ``Histogram.observe``: the sum, and the first bucket whose bound holds it."""
        self.sum += amount
        index = bisect_left(self.bounds, amount)
        if index < len(self.bounds) and amount <= self.bounds[index]:  # not for NaN
            self.counts[index] += 1.0


class RequestTally(Collector):
    """The tallies, written at scrape time in the order given."""

    def __init__(self, *metrics: TallyCounter | TallyHistogram) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        for metric in self.metrics:
            yield metric.family()
