"""Prometheus figures of one serving process, in a registry of its own (no global state)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from livermore.exchanges import ExchangeAdapter
from livermore.warmup import WarmupStats

_ADAPTER_COUNTERS = {
    "requests": ("livermore_rest_requests", "REST requests sent to the exchange"),
    "weight_used": ("livermore_rest_weight_used", "Request weight spent against the exchange's budget"),
    "throttled": ("livermore_rest_throttled", "HTTP 429 (rate limited) replies"),
    "banned": ("livermore_rest_banned", "HTTP 418 (IP banned) replies"),
    "retries": ("livermore_rest_retries", "Requests retried after a transient failure"),
}


class _AdapterCollector(Collector):
    """Reads the adapter's own counters at scrape time, so there is one source of truth."""

    def __init__(self, adapter: ExchangeAdapter):
        self.adapter = adapter

    def collect(self) -> Iterator[Metric]:
        figures = self.adapter.metrics.as_dict()
        for field, (name, doc) in _ADAPTER_COUNTERS.items():
            family = CounterMetricFamily(name, doc, labels=["exchange"])
            family.add_metric([self.adapter.name], figures[field])
            yield family


class WarmupMetrics:
    """Warmup outcomes (fed with each run's report) plus the adapter's REST counters."""

    def __init__(self, adapter: ExchangeAdapter):
        self.registry = CollectorRegistry()
        self.duration = Histogram(
            "livermore_warmup_duration_seconds",
            "Wall time of a warmup run",
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
            registry=self.registry,
        )
        self.runs = Counter("livermore_warmup_runs", "Warmup runs by outcome", ["outcome"], registry=self.registry)
        self.pairs = Counter(
            "livermore_warmup_pairs", "Symbol x timeframe pairs by outcome", ["outcome"], registry=self.registry
        )
        self.candles = Counter("livermore_warmup_candles_written", "Candles written by warmups", registry=self.registry)
        self.registry.register(_AdapterCollector(adapter))

    def observe(self, stats: WarmupStats) -> None:
        """Record one finished run."""
        self.duration.observe(stats.duration_ms / 1000)
        self.runs.labels(stats.outcome or "unknown").inc()
        self.pairs.labels("sufficient").inc(stats.skipped_pairs)
        self.pairs.labels("completed").inc(stats.completed_pairs)
        self.pairs.labels("failed").inc(stats.failed_pairs)
        self.candles.inc(stats.candles_written)
