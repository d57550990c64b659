from __future__ import annotations

import orjson
from redis.asyncio import Redis

from livermore.cache import CandleCache, warmup_schedule_key
from livermore.models import Timeframe
from livermore.warmup import CandleStatusScanner, WarmupScheduleBuilder
from tests.test_scanner import NOW, TF, series


async def test_entries_and_fetch_from(redis: Redis) -> None:
    cache = CandleCache(redis)
    newest_stale = TF.floor(NOW) - 10 * TF.ms
    await cache.add_candles(1, series("OK", 100))
    await cache.add_candles(1, series("TAIL", 100, newest=newest_stale))
    await cache.add_candles(1, series("FAR", 100, newest=TF.floor(NOW) - 500 * TF.ms))
    await cache.add_candles(1, series("HOLE", 100, skip=frozenset({3})))
    results = await CandleStatusScanner(cache, clock=lambda: NOW).scan(1, ["OK", "TAIL", "FAR", "HOLE", "NEW"], [TF])
    builder = WarmupScheduleBuilder(redis, target=100, clock=lambda: NOW)
    schedule = await builder.build_and_persist(1, results)
    window_start = TF.floor(NOW) - 99 * TF.ms
    assert [(e.symbol, e.reason, e.fetch_from) for e in schedule.entries] == [
        ("TAIL", "stale", newest_stale),  # only the tail, from the newest cached (maybe once open) candle
        ("FAR", "stale", window_start),
        ("HOLE", "gap", window_start),
        ("NEW", "empty", window_start),
    ]
    assert (schedule.total_pairs, schedule.sufficient_pairs, schedule.needs_fetching) == (5, 1, 4)


async def test_round_trip_camel_case_no_ttl(redis: Redis) -> None:
    builder = WarmupScheduleBuilder(redis, clock=lambda: NOW)
    results = await CandleStatusScanner(CandleCache(redis), clock=lambda: NOW).scan(7, ["X"], [Timeframe.H1])
    schedule = await builder.build_and_persist(7, results)
    raw = orjson.loads(await redis.get(warmup_schedule_key(7)))
    assert list(raw) == ["exchangeId", "createdAt", "mode", "totalPairs", "sufficientPairs", "needsFetching", "entries"]
    assert list(raw["entries"][0]) == ["symbol", "timeframe", "cachedCount", "targetCount", "reason", "fetchFrom"]
    assert await redis.ttl(warmup_schedule_key(7)) == -1
    assert await builder.load(7) == schedule
    assert await builder.load(8) is None
