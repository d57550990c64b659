"""StartupBackfillService: the brute-force path of the ad-hoc commands."""

from __future__ import annotations

from redis.asyncio import Redis

from livermore.cache import CandleCache
from livermore.models import Timeframe
from livermore.warmup import StartupBackfillService
from tests.warmup_world import SETTINGS, TFS, Env


async def test_backfill_fetches_the_newest_n_whatever_the_cache_holds(binance: Env, redis: Redis) -> None:
    backfill = StartupBackfillService(redis, binance.adapter, SETTINGS, clock=binance.sim.now_ms)
    ex = binance.adapter.exchange_id
    await binance.service.run(ex, binance.symbols, TFS)  # the cache is full and fresh
    before = binance.adapter.metrics.requests
    report = await backfill.backfill(ex, [binance.symbols[0], "NOPEUSDT"], [Timeframe.H1, Timeframe.M5], candle_count=50)
    assert (report.pairs, report.completed, report.failed) == (4, 2, 2)
    assert binance.adapter.metrics.requests - before == 4  # fetched again: brute force, by design
    assert {f["symbol"] for f in report.failures} == {"NOPEUSDT"}
    cached = await CandleCache(redis).get_range(ex, binance.symbols[0], Timeframe.H1)
    assert len(cached) >= 100  # nothing lost: pages replace by open time
