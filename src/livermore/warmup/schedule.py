"""WarmupScheduleBuilder: turn scan results into the persisted list of pairs to fetch."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from redis.asyncio import Redis

from livermore.cache.keys import warmup_schedule_key
from livermore.warmup.types import (
    DEFAULT_CANDLE_TARGET,
    CandleStatusResult,
    WarmupSchedule,
    WarmupScheduleEntry,
    now_ms,
)

log = logging.getLogger(__name__)


class WarmupScheduleBuilder:
    """Builds the schedule (only insufficient pairs, each with where to fetch from) and persists it."""

    def __init__(self, redis: Redis, target: int = DEFAULT_CANDLE_TARGET, clock: Callable[[], int] = now_ms):
        self.redis = redis
        self.target = target
        self.clock = clock

    def build(self, exchange_id: int, results: Sequence[CandleStatusResult], mode: str = "smart") -> WarmupSchedule:
        now = self.clock()
        entries = [self._entry(r, now) for r in results if not r.sufficient]
        return WarmupSchedule(
            exchange_id=exchange_id,
            created_at=now,
            mode=mode,
            total_pairs=len(results),
            sufficient_pairs=len(results) - len(entries),
            needs_fetching=len(entries),
            entries=entries,
        )

    def _entry(self, r: CandleStatusResult, now: int) -> WarmupScheduleEntry:
        return WarmupScheduleEntry(
            symbol=r.symbol,
            timeframe=r.timeframe,
            cached_count=r.cached_count,
            target_count=self.target,
            reason=r.reason,
            fetch_from=self.fetch_from(r, now),
        )

    def fetch_from(self, r: CandleStatusResult, now: int) -> int:
        """Where fetching starts: only the tail when the cache is whole and reaches into the target
        window, else the start of the target window (the newest `target` intervals up to now).

        The tail starts at the newest cached candle itself, not the one after: it may have been
        cached while its interval was still open, so it is fetched again, in the same request.
        """
        tf = r.timeframe
        window_start = tf.floor(now) - (self.target - 1) * tf.ms
        tail_only = r.reason == "stale" and not r.holed and r.newest_open_time is not None
        if tail_only and r.newest_open_time >= window_start:  # type: ignore[operator]
            return r.newest_open_time  # type: ignore[return-value]
        return window_start

    async def build_and_persist(
        self, exchange_id: int, results: Sequence[CandleStatusResult], mode: str = "smart"
    ) -> WarmupSchedule:
        """Build, then write the JSON with no TTL (the admin UI reads it before and after a run)."""
        schedule = self.build(exchange_id, results, mode)
        await self.redis.set(warmup_schedule_key(exchange_id), schedule.to_json())
        log.info("schedule for exchange %s: %d of %d pairs need fetching",
                 exchange_id, schedule.needs_fetching, schedule.total_pairs)
        return schedule

    async def load(self, exchange_id: int) -> WarmupSchedule | None:
        raw = await self.redis.get(warmup_schedule_key(exchange_id))
        return WarmupSchedule.model_validate_json(raw) if raw else None
