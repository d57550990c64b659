"""Prometheus figures of one serving process, in a registry of its own (no global state)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from livermore.exchanges import ExchangeAdapter
from livermore.exchanges.ratelimit import TokenBucket, WeightLimiter
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


@dataclass
class LiveState:
    """The newest known warmup state. collect() is synchronous and must not wait on Redis, so the
    app refreshes this before each scrape (stats, lease) and on each meter scan (stale pairs)."""

    stats: WarmupStats | None = None
    running: bool = False
    stale_pairs: int | None = None
    scanned_pairs: int | None = None
    scanned_at_s: float | None = None
    last_success_s: float | None = None

    def saw_stats(self, stats: WarmupStats | None) -> None:
        self.stats = stats
        if stats is not None and stats.outcome == "complete":
            self.last_success_s = max(self.last_success_s or 0.0, stats.updated_at / 1000)

    def saw_scan(self, stale: int, scanned: int) -> None:
        self.stale_pairs, self.scanned_pairs, self.scanned_at_s = stale, scanned, time.time()


class _LiveCollector(Collector):
    """Gauges of the live run, the last scan and the rate-limit window, computed at scrape time."""

    def __init__(self, adapter: ExchangeAdapter, live: LiveState):
        self.adapter = adapter
        self.live = live

    def collect(self) -> Iterator[Metric]:
        live, s = self.live, self.live.stats
        yield self._gauge("livermore_warmup_running", "1 while a warmup of this exchange runs", float(live.running))
        percent = None if s is None else s.percent_complete
        yield self._gauge("livermore_warmup_percent", "Percent of the newest run's schedule done", percent)
        pairs_left = None if s is None else max(0, s.total_pairs - s.done_pairs)
        yield self._gauge("livermore_warmup_pairs_left", "Scheduled pairs of the newest run not done yet", pairs_left)
        yield self._gauge(
            "livermore_warmup_last_success_timestamp_seconds", "When a run last completed", live.last_success_s
        )
        yield self._gauge("livermore_cache_stale_pairs", "Insufficient pairs in the last meter scan", live.stale_pairs)
        yield self._gauge("livermore_cache_scanned_pairs", "Pairs in the last meter scan", live.scanned_pairs)
        yield self._gauge("livermore_cache_scan_timestamp_seconds", "When the last meter scan ran", live.scanned_at_s)
        yield from self._limiter()

    def _limiter(self) -> Iterator[Metric]:
        """Binance: weight used in the current window vs the limit and our budget (limit less the
        safety margin). Coinbase: tokens spent from the bucket vs its burst, and its refill rate."""
        limiter = getattr(self.adapter, "limiter", None)  # RestAdapter's; not in the ExchangeAdapter protocol
        if isinstance(limiter, WeightLimiter):
            used, limit, budget = float(limiter.used), float(limiter.limit), float(limiter.budget)
            yield self._gauge("livermore_rate_limit_window_seconds", "Rate-limit window length", limiter.window_s)
        elif isinstance(limiter, TokenBucket):
            tokens = min(limiter.burst, limiter._tokens + (time.time() - limiter._at) * limiter.rate)
            used, limit, budget = limiter.burst - tokens, limiter.burst, limiter.burst
            yield self._gauge("livermore_rate_limit_refill_per_second", "Token bucket refill rate", limiter.rate)
        else:
            return
        yield self._gauge("livermore_rate_limit_used", "Weight (tokens) used in the current window", used)
        yield self._gauge("livermore_rate_limit_limit", "The exchange's limit per window", limit)
        yield self._gauge("livermore_rate_limit_budget", "What we allow ourselves per window", budget)

    def _gauge(self, name: str, doc: str, value: float | None) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, doc, labels=["exchange"])
        if value is not None:  # unknown yet (no run, no scan): the family without a sample
            family.add_metric([self.adapter.name], float(value))
        return family


class WarmupMetrics:
    """Warmup outcomes (fed with each run's report), live gauges, and the adapter's REST counters."""

    def __init__(self, adapter: ExchangeAdapter):
        self.registry = CollectorRegistry()
        self.live = LiveState()
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
        self.registry.register(_LiveCollector(adapter, self.live))

    def observe(self, stats: WarmupStats) -> None:
        """Record one finished run."""
        self.live.saw_stats(stats)
        self.duration.observe(stats.duration_ms / 1000)
        self.runs.labels(stats.outcome or "unknown").inc()
        self.pairs.labels("sufficient").inc(stats.skipped_pairs)
        self.pairs.labels("completed").inc(stats.completed_pairs)
        self.pairs.labels("failed").inc(stats.failed_pairs)
        self.candles.inc(stats.candles_written)
