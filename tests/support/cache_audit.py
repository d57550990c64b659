"""The cache's invariants, read from Redis itself after a fault: what the e2e tests and the fault suite
(`make reliability`) assert. One member per open time, no hole the exchange did not confirm, no
candle lost from a pair that was complete, and the scanner's verdict on every pair."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import orjson
from redis.asyncio import Redis

from livermore.config import Settings
from livermore.keys import candle_ledger_key, exchange_candle_key
from livermore.models import Timeframe, now_ms
from livermore.service import scanner_for

Pair = tuple[str, Timeframe]


@dataclass(frozen=True)
class CacheAudit:
    """One look at the pairs' keys: candles held, and the scanner's verdict at the time asked."""

    counts: dict[Pair, int]
    sufficient: frozenset[Pair]
    duplicates: int  # members sharing an open time with another member of their key
    holes: int  # open times between two held candles, neither held nor confirmed empty by the exchange

    @property
    def insufficient(self) -> int:
        return len(self.counts) - len(self.sufficient)

    def lost_since(self, before: CacheAudit) -> int:
        """Candles gone from the pairs that were complete (sufficient) in `before`."""
        return sum(max(0, before.counts[p] - self.counts.get(p, 0)) for p in before.sufficient)


async def audit(
    redis: Redis,
    exchange_id: int,
    symbols: Sequence[str],
    timeframes: Sequence[Timeframe],
    *,
    at_ms: int | None = None,
    settings: Settings | None = None,
) -> CacheAudit:
    """Every pair's candles and ledger entry, judged by the project's own scanner as of `at_ms`
    (default now: pass a run's end to judge the cache as the run left it, whatever closed since)."""
    at = now_ms() if at_ms is None else at_ms
    results = await scanner_for(redis, settings or Settings(), clock=lambda: at).scan(exchange_id, symbols, timeframes)
    pairs = [(r.symbol, r.timeframe) for r in results]
    keys = [exchange_candle_key(exchange_id, s, tf.value) for s, tf in pairs]
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.zrange(key, 0, -1, withscores=True)
        pipe.hmget(candle_ledger_key(exchange_id), keys)
        *held, entries = await pipe.execute()
    counts, duplicates, holes = {}, 0, 0
    for pair, members, entry in zip(pairs, held, entries, strict=True):
        times = sorted(int(score) for _, score in members)
        counts[pair] = len(times)
        duplicates += len(times) - len(set(times))
        holes += _holes(sorted(set(times)), _confirmed_empty(entry), pair[1].ms)
    sufficient = frozenset(p for p, r in zip(pairs, results, strict=True) if r.sufficient)
    return CacheAudit(counts, sufficient, duplicates, holes)


def _confirmed_empty(entry: bytes | None) -> list[int]:
    """The open times the ledger entry says the exchange confirmed had no trade (`empty`), ascending."""
    return sorted(orjson.loads(entry).get("empty", [])) if entry else []


def _holes(times: list[int], empty: list[int], step: int) -> int:
    """Intervals missing between consecutive held open times and not confirmed empty."""
    missing = 0
    for a, b in pairwise(times):
        confirmed = bisect_left(empty, b) - bisect_right(empty, a)
        missing += (b - a) // step - 1 - confirmed
    return missing
