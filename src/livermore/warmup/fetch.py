"""Fetch one pair from the exchange and store it, filling confirmed no-trade intervals."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from livermore.cache import CandleCache
from livermore.exchanges import ExchangeAdapter
from livermore.models import Candle, Timeframe, now_ms


def fill_no_trade(candles: Sequence[Candle], prev: Candle | None, start_ms: int, last_closed_ms: int) -> list[Candle]:
    """Candles of [start_ms, last_closed_ms] made contiguous: an interval the exchange returned no
    candle for (it had no trades, Coinbase omits those) becomes a synthetic candle carrying the
    previous close. Nothing is invented before the first known candle (e.g. before a listing)."""
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


class PairFetcher:
    """Fetches one pair of one exchange from a start time to now and stores it in one round trip."""

    def __init__(
        self, adapter: ExchangeAdapter, cache: CandleCache, exchange_id: int, clock: Callable[[], int] = now_ms
    ):
        self.adapter = adapter
        self.cache = cache
        self.exchange_id = exchange_id
        self.clock = clock

    async def __call__(self, symbol: str, timeframe: Timeframe, start_ms: int) -> int:
        """Fetch [start_ms, now] and write it; returns candles written."""
        eid = self.exchange_id
        start_ms = timeframe.floor(start_ms)
        candles = await self.adapter.fetch_candles(symbol, timeframe, start_ms)
        if candles and candles[0].timestamp > start_ms:  # nothing older on the exchange: a recent listing
            await self.cache.set_history_start(eid, symbol, timeframe, candles[0].timestamp)
        prev = await self.cache.last_before(eid, symbol, timeframe, start_ms) if candles else None
        last_closed = timeframe.floor(self.clock()) - timeframe.ms
        return await self.cache.add_candles(eid, fill_no_trade(candles, prev, start_ms, last_closed))
