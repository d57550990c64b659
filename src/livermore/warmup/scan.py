"""CandleStatusScanner: which cached pairs are complete, fresh and hole-free."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from livermore.cache import CandleCache, PairWindow
from livermore.models import SCAN_TIMEFRAME_ORDER, Timeframe, now_ms

log = logging.getLogger(__name__)

Reason = Literal["empty", "low_count", "stale", "gap", "ok"]


@dataclass(frozen=True, slots=True)
class CandleStatusResult:
    """The scanner's verdict on one symbol x timeframe pair."""

    symbol: str
    timeframe: Timeframe
    cached_count: int
    newest_open_time: int | None
    sufficient: bool
    reason: Reason
    # Up to its newest candle the cache is enough (the newest `threshold` contiguous, or the whole
    # history of a recent listing): fetching only the tail makes a stale pair sufficient again.
    whole: bool = False


class CandleStatusScanner:
    """Scans every symbol x timeframe pair in a few Redis round trips (one script call per chunk).

    A pair is sufficient only if it holds `threshold` candles (or all the exchange has, for a recent
    listing), its newest candle opened within two intervals of now, and the newest `threshold`
    candles are contiguous: one ZCOUNT over the span they must fill answers all three. Counting
    alone would call a cache that stopped updating hours ago sufficient.
    """

    def __init__(self, cache: CandleCache, *, threshold: int, clock: Callable[[], int] = now_ms):
        """
        :param threshold: fewer cached candles than this (and not a whole recent listing) -> fetch.
        """
        self.cache = cache
        self.threshold = threshold
        self.clock = clock

    async def scan(
        self, exchange_id: int, symbols: Sequence[str], timeframes: Sequence[Timeframe] = SCAN_TIMEFRAME_ORDER
    ) -> list[CandleStatusResult]:
        """Results largest timeframe first, then in the symbols' order."""
        ordered = sorted(dict.fromkeys(timeframes), key=lambda tf: -tf.ms)
        pairs = [(s, tf) for tf in ordered for s in symbols]
        windows = await self.cache.windows(exchange_id, pairs, depth=self.threshold)
        now = self.clock()
        results = [verdict(w, self.threshold, now) for w in windows]
        log.info(
            "scanned %d pairs of exchange %s: %d sufficient",
            len(results),
            exchange_id,
            sum(r.sufficient for r in results),
        )
        return results


def verdict(w: PairWindow, threshold: int, now: int) -> CandleStatusResult:
    """The pure rule behind a scan: what one key's window says about its pair at `now`."""
    tf = w.timeframe
    holed = w.window_count < min(w.cached_count, threshold)
    long_enough = w.cached_count >= threshold or _whole_history(w)
    reason: Reason
    if w.newest_open_time is None:
        reason = "empty"
    elif w.newest_open_time < tf.floor(now) - tf.ms:
        reason = "stale"
    elif not long_enough:
        reason = "low_count"
    elif holed:
        reason = "gap"
    else:
        reason = "ok"
    whole = long_enough and not holed
    return CandleStatusResult(w.symbol, tf, w.cached_count, w.newest_open_time, reason == "ok", reason, whole)


def _whole_history(w: PairWindow) -> bool:
    """A pair listed recently has fewer candles than the threshold: enough when it holds every
    interval from its first candle on the exchange to the newest."""
    if w.history_start is None or w.newest_open_time is None or w.newest_open_time < w.history_start:
        return False
    intervals = (w.newest_open_time - w.history_start) // w.timeframe.ms + 1
    return w.cached_count == w.window_count == intervals
