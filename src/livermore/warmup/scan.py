"""CandleStatusScanner: which cached pairs are complete, fresh, final and hole-free."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from livermore.cache import CandleCache, PairWindow
from livermore.models import SCAN_TIMEFRAME_ORDER, Timeframe, now_ms

log = logging.getLogger(__name__)

Reason = Literal["empty", "low_count", "stale", "gap", "partial", "ok"]


@dataclass(frozen=True, slots=True)
class CandleStatusResult:
    """The scanner's verdict on one symbol x timeframe pair."""

    symbol: str
    timeframe: Timeframe
    cached_count: int
    newest_open_time: int | None
    sufficient: bool
    reason: Reason
    # Up to `covered_to` the cache is enough (the newest `threshold` intervals held or confirmed
    # empty, or the whole history of a recent listing): fetching only the tail from there makes a
    # stale or partial pair sufficient again.
    whole: bool = False
    # The newest open time accounted for: the newest candle, or a silence the exchange confirmed after it.
    covered_to: int | None = None


class CandleStatusScanner:
    """Scans every symbol x timeframe pair in a few Redis round trips (one script call per chunk,
    which reads the candles and the coverage ledger together; on a cluster one per pair, each
    node's in one batch).

    A pair is sufficient only if its newest `threshold` intervals are each a candle or confirmed
    empty by the exchange (or it holds all the exchange has, for a recent listing), that coverage
    reaches the last closed interval, and its newest candle was not fetched while its interval
    was still open. Counting alone would call a cache that stopped updating hours ago sufficient.
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
        log.debug(  # a page that polls the meter scans every 2 s: INFO would drown the service's log
            "scanned %d pairs of exchange %s: %d sufficient",
            len(results),
            exchange_id,
            sum(r.sufficient for r in results),
        )
        return results


def verdict(w: PairWindow, threshold: int, now: int) -> CandleStatusResult:
    """The pure rule behind a scan: what one key's window and ledger entry say about its pair at `now`.

    Intervals count when they hold a candle or the exchange confirmed them empty (the ledger);
    freshness is judged by that coverage, not by the newest candle alone, so an illiquid pair whose
    silence is confirmed up to the last closed interval is fresh, and a pair whose exchange stopped
    answering with candles is not.
    """
    tf = w.timeframe
    covered = w.covered_to
    known = w.cached_count + w.empty_count
    holed = w.window_count < min(known, threshold)
    long_enough = known >= threshold or _whole_history(w, known)
    reason: Reason
    if covered is None:
        reason = "empty"
    elif covered < tf.floor(now) - tf.ms:
        reason = "stale"
    elif not long_enough:
        reason = "low_count"
    elif holed:
        reason = "gap"
    elif _partial(w, now):
        reason = "partial"
    else:
        reason = "ok"
    whole = long_enough and not holed
    return CandleStatusResult(w.symbol, tf, w.cached_count, w.newest_open_time, reason == "ok", reason, whole, covered)


def _partial(w: PairWindow, now: int) -> bool:
    """The newest candle's interval has closed, but the candle was fetched before it closed: it is
    the half-formed candle of an open interval, to be fetched again."""
    newest, fetched_at = w.newest_open_time, w.fetched_at
    if newest is None or fetched_at is None:  # unknown: cached before the ledger, or by another writer
        return False
    return fetched_at < newest + w.timeframe.ms <= now


def _whole_history(w: PairWindow, known: int) -> bool:
    """A pair listed recently has fewer intervals than the threshold: enough when it accounts for
    every interval from its first candle on the exchange to the newest covered."""
    covered = w.covered_to
    if w.history_start is None or covered is None or covered < w.history_start:
        return False
    intervals = (covered - w.history_start) // w.timeframe.ms + 1
    return known == w.window_count == intervals
