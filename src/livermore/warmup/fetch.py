"""Fetch one pair from the exchange and store it, with what the exchange's answer confirmed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from livermore.cache import CandleCache, Coverage
from livermore.errors import UnfitCandleError
from livermore.exchanges import ExchangeAdapter
from livermore.models import Candle, CandleColumns, Timeframe, now_ms


def last_closed(tf: Timeframe, t_ms: int) -> int:
    """Open time of the newest interval that had closed at `t_ms`."""
    return tf.floor(t_ms) - tf.ms


def coverage(
    timestamps: Sequence[int], symbol: str, tf: Timeframe, start_ms: int, asked_at: int, omits_quiet: bool
) -> Coverage:
    """What one answer for [start_ms, now] (asked at `asked_at`), whose candles open at
    `timestamps` (ascending), confirms about the pair.

    An exchange that omits quiet intervals (Coinbase) confirms as empty every interval it answered
    for without a candle, up to the last one closed when asked (a trailing silence included; the
    open one may still trade). It cannot tell a young pair from an illiquid first interval, so no
    history start is claimed: the leading silence is confirmed empty instead, which tells the scanner
    as much. An exchange that returns zero-volume candles for quiet intervals (Binance) confirms
    only what it returned: a missing interval is an outage, to be fetched again; a first candle
    after the start means it has nothing older: the pair is young.
    """
    newest = timestamps[-1] if timestamps else None
    if omits_quiet:
        settled = last_closed(tf, asked_at)
        held = set(timestamps)
        empty = tuple(t for t in range(start_ms, settled + 1, tf.ms) if t not in held)
        return Coverage(symbol, tf, start_ms, max(settled, newest or settled), asked_at, empty)
    young = bool(timestamps) and timestamps[0] > start_ms
    return Coverage(symbol, tf, start_ms, newest, asked_at, history_start=timestamps[0] if young else None)


def fill_no_trade(candles: Sequence[Candle], prev: Candle | None, start_ms: int, last_closed_ms: int) -> list[Candle]:
    """Candles of [start_ms, last_closed_ms] made contiguous, for consumers that want synthetic
    members (off by default): an interval the exchange returned no candle for (it had no trades,
    Coinbase omits those) becomes a synthetic candle carrying the previous close. Nothing is
    invented before the first known candle (e.g. before a listing)."""
    if not candles:
        return []
    tf = candles[0].timeframe
    by_time = {c.timestamp: c for c in candles}
    last = prev if prev is not None and prev.timestamp == start_ms - tf.ms else None
    out: list[Candle] = []
    end = max(candles[-1].timestamp, last_closed_ms)
    for t in range(start_ms, end + 1, tf.ms):
        c = by_time.get(t)
        if c is None and last is not None and t <= last_closed_ms:
            c = last.synthetic_next(t)
        if c is not None:
            out.append(c)
            last = c
    return out


def _refuse_unfit(candles: CandleColumns) -> None:
    """The whole answer is refused for one unfit candle: writing the rest would mark its interval as
    covered, and the pair would look whole while the exchange's data is broken."""
    if (unfit := candles.unfit()) is not None:
        t, problem = unfit
        raise UnfitCandleError(f"unfit candle at {t} ({problem}); nothing of this answer was written")


class PairFetcher:
    """Fetches one pair of one exchange from a start time to now and stores it, with its coverage
    (the ledger entry), in one script call."""

    def __init__(
        self,
        adapter: ExchangeAdapter,
        cache: CandleCache,
        exchange_id: int,
        clock: Callable[[], int] = now_ms,
        *,
        materialise_synthetic: bool = False,
    ):
        """
        :param materialise_synthetic: also write a synthetic member (previous close, volume 0) for
            each interval the exchange confirmed empty after a known candle, for consumers that
            want a contiguous series. Off by default: the original treats every member as real.
        """
        self.adapter = adapter
        self.cache = cache
        self.exchange_id = exchange_id
        self.clock = clock
        self.materialise_synthetic = materialise_synthetic

    async def __call__(self, symbol: str, timeframe: Timeframe, start_ms: int) -> int:
        """Fetch [start_ms, now] and write it; returns candles written. Now is this fetcher's clock,
        the one the coverage is judged by: the exchange is asked up to it (and no page beyond the
        last interval closed by then is asked for)."""
        start_ms = timeframe.floor(start_ms)
        asked_at = self.clock()
        candles = await self.adapter.fetch_candles(symbol, timeframe, start_ms, asked_at)
        _refuse_unfit(candles)
        omits_quiet = self.adapter.omits_quiet_intervals
        answer = coverage(candles.timestamps, symbol, timeframe, start_ms, asked_at, omits_quiet)
        if self.materialise_synthetic and omits_quiet and candles:
            prev = await self.cache.last_before(self.exchange_id, symbol, timeframe, start_ms)
            filled = fill_no_trade(candles.candles(), prev, start_ms, last_closed(timeframe, asked_at))
            return await self.cache.add_candles(self.exchange_id, filled, [answer])
        return await self.cache.add_columns(self.exchange_id, candles, answer)
