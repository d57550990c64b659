"""Live progress stats: the original's JSON (its admin UI reads ours), written and published coalesced."""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import orjson
from pydantic import Field
from redis.asyncio import Redis

from livermore.cache.keys import warmup_events_channel, warmup_stats_key
from livermore.warmup.types import _CamelModel

log = logging.getLogger(__name__)

Status = Literal["scanning", "fetching", "complete", "error"]


class Failure(_CamelModel):
    symbol: str
    timeframe: str
    error: str


class WarmupStats(_CamelModel):
    """`exchange:<id>:warm-up-schedule:stats`: the original's fields, then ours."""

    exchange_id: int
    status: Status = "scanning"
    mode: str = "smart"
    started_at: int
    updated_at: int
    total_symbols: int = 0
    total_pairs: int = 0
    completed_pairs: int = 0
    skipped_pairs: int = 0
    failed_pairs: int = 0
    percent_complete: int = 0
    eta_ms: int | None = None
    current_symbol: str | None = None
    current_timeframe: str | None = None
    failures: list[Failure] = Field(default_factory=list)
    rest_calls: int = 0
    weight_used: int = 0
    candles_written: int = 0
    throttled: int = 0
    banned: int = 0
    policy: str = "smart"
    message: str | None = None

    def progress(self, fetch_started_ms: int, now: int) -> None:
        """Recompute percent and ETA from the observed rate (the original's formulas)."""
        done = self.completed_pairs + self.failed_pairs
        self.percent_complete = round(done / self.total_pairs * 100) if self.total_pairs else 100
        elapsed = now - fetch_started_ms
        remaining = self.total_pairs - done
        self.eta_ms = round(remaining * elapsed / done) if done and elapsed > 0 else None


class StatsPublisher:
    """SET the stats key (no TTL) and PUBLISH the same JSON, in one round trip, at most every
    `interval_s` unless forced: progress after every batch without flooding Redis or viewers."""

    def __init__(self, redis: Redis, exchange_id: int, interval_s: float = 0.25):
        self.redis = redis
        self.key = warmup_stats_key(exchange_id)
        self.channel = warmup_events_channel(exchange_id)
        self.interval_s = interval_s
        self._last = 0.0

    async def publish(self, stats: WarmupStats, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        payload = stats.to_json()
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.set(self.key, payload).publish(self.channel, payload)
                await pipe.execute()
        except Exception as e:  # progress is for viewers; a Redis hiccup must not stop the warmup
            log.warning("could not publish warmup stats: %s", e)


async def load_stats(redis: Redis, exchange_id: int) -> dict[str, Any] | None:
    """The current or last run's stats as a dict, or None before any run."""
    raw = await redis.get(warmup_stats_key(exchange_id))
    return orjson.loads(raw) if raw else None
