"""WarmupScheduleBuilder: turn scan results into the list of pairs to fetch (pure: no Redis).

The schedule is the original's JSON (`exchange:<id>:warm-up-schedule:symbols`, written by
`WarmupStore`), with our `fetchFrom` added to each entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from livermore.models import CamelModel, Timeframe, now_ms
from livermore.warmup.scan import CandleStatusResult, Reason

EntryReason = Reason | Literal["full_refresh"]  # full_refresh: a backfill, whatever the cache holds


class WarmupScheduleEntry(CamelModel):
    """One pair to fetch: from `fetch_from` (open time, ms) up to now."""

    symbol: str
    timeframe: Timeframe
    cached_count: int
    target_count: int
    reason: EntryReason
    fetch_from: int


class WarmupSchedule(CamelModel):
    """The persisted plan, `exchange:<id>:warm-up-schedule:symbols`."""

    exchange_id: int
    created_at: int
    mode: str = "smart"
    total_pairs: int
    sufficient_pairs: int
    needs_fetching: int
    entries: list[WarmupScheduleEntry]


class WarmupScheduleBuilder:
    """Builds the schedule: only insufficient pairs, each with where its fetch starts."""

    def __init__(self, *, target: int, clock: Callable[[], int] = now_ms):
        """
        :param target: how many of the newest intervals a fetch fills (the original's 100).
        """
        self.target = target
        self.clock = clock

    def build(self, exchange_id: int, results: Sequence[CandleStatusResult], mode: str = "smart") -> WarmupSchedule:
        """The smart schedule: the insufficient pairs, each from where the cache stops being whole."""
        now = self.clock()
        entries = [self._entry(r, r.reason, self.fetch_from(r, now)) for r in results if not r.sufficient]
        return self._schedule(exchange_id, mode, len(results), entries, now)

    def full_refresh(self, exchange_id: int, results: Sequence[CandleStatusResult]) -> WarmupSchedule:
        """The brute-force schedule of a backfill: every pair, the whole target window."""
        now = self.clock()
        entries = [self._entry(r, "full_refresh", self.window_start(r.timeframe, now)) for r in results]
        return self._schedule(exchange_id, "backfill", len(results), entries, now)

    def _schedule(
        self, exchange_id: int, mode: str, total: int, entries: list[WarmupScheduleEntry], now: int
    ) -> WarmupSchedule:
        return WarmupSchedule(
            exchange_id=exchange_id,
            created_at=now,
            mode=mode,
            total_pairs=total,
            sufficient_pairs=total - len(entries),
            needs_fetching=len(entries),
            entries=entries,
        )

    def _entry(self, r: CandleStatusResult, reason: EntryReason, fetch_from: int) -> WarmupScheduleEntry:
        return WarmupScheduleEntry(
            symbol=r.symbol,
            timeframe=r.timeframe,
            cached_count=r.cached_count,
            target_count=self.target,
            reason=reason,
            fetch_from=fetch_from,
        )

    def window_start(self, tf: Timeframe, now: int) -> int:
        """Open time of the oldest of the newest `target` intervals up to now."""
        return tf.floor(now) - (self.target - 1) * tf.ms

    def fetch_from(self, r: CandleStatusResult, now: int) -> int:
        """Where fetching starts: only the tail when the cache is whole but stale or partial and its
        coverage reaches into the target window, else the start of the target window.

        The tail starts at the newest covered open time itself, not the one after: a candle there
        may have been cached while its interval was still open (a partial pair's is), so it is
        fetched again, in the same request.
        """
        window_start = self.window_start(r.timeframe, now)
        tail = r.covered_to
        if r.reason in ("stale", "partial") and r.whole and tail is not None and tail >= window_start:
            return tail
        return window_start
