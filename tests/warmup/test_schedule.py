from __future__ import annotations

import orjson
from redis.asyncio import Redis

from livermore.keys import warmup_schedule_key
from livermore.models import Timeframe
from livermore.warmup import CandleStatusScanner, WarmupScheduleBuilder
from livermore.warmup.store import WarmupStore
from tests.support.candles import NOW, TF, cache_of, series


async def test_entries_and_fetch_from(redis: Redis) -> None:
    cache = cache_of(redis)
    newest_stale = TF.floor(NOW) - 10 * TF.ms
    await cache.add_candles(1, series("OK", 100))
    await cache.add_candles(1, series("TAIL", 100, newest=newest_stale))
    await cache.add_candles(1, series("FAR", 100, newest=TF.floor(NOW) - 500 * TF.ms))
    await cache.add_candles(1, series("HOLE", 100, skip=frozenset({3})))
    results = await CandleStatusScanner(cache, threshold=60, clock=lambda: NOW).scan(
        1, ["OK", "TAIL", "FAR", "HOLE", "NEW"], [TF]
    )
    schedule = WarmupScheduleBuilder(target=100, clock=lambda: NOW).build(1, results)
    window_start = TF.floor(NOW) - 99 * TF.ms
    assert [(e.symbol, e.reason, e.fetch_from) for e in schedule.entries] == [
        ("TAIL", "stale", newest_stale),  # only the tail, from the newest cached (maybe once open) candle
        ("FAR", "stale", window_start),
        ("HOLE", "gap", window_start),
        ("NEW", "empty", window_start),
    ]
    assert (schedule.total_pairs, schedule.sufficient_pairs, schedule.needs_fetching) == (5, 1, 4)


async def test_round_trip_camel_case_no_ttl(redis: Redis) -> None:
    store = WarmupStore(redis)
    results = await CandleStatusScanner(cache_of(redis), threshold=60, clock=lambda: NOW).scan(7, ["X"], [Timeframe.H1])
    schedule = WarmupScheduleBuilder(target=100, clock=lambda: NOW).build(7, results)
    await store.save_schedule(schedule)
    raw = orjson.loads(await redis.get(warmup_schedule_key(7)))
    assert list(raw) == ["exchangeId", "createdAt", "mode", "totalPairs", "sufficientPairs", "needsFetching", "entries"]
    assert list(raw["entries"][0]) == ["symbol", "timeframe", "cachedCount", "targetCount", "reason", "fetchFrom"]
    assert await redis.ttl(warmup_schedule_key(7)) == -1
    assert await store.load_schedule(7) == schedule
    assert await store.load_schedule(8) is None
