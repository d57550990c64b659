"""The backfill: the original's brute-force path of the ad-hoc commands, through the same drain and lease."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from livermore.errors import WarmupAlreadyRunning
from livermore.keys import warmup_lock_key
from livermore.models import Timeframe
from livermore.service import warmup_for
from livermore.warmup.ending import StopRequest
from livermore.warmup.lock import LeaseLock
from tests.support.candles import cache_of
from tests.support.warmup_world import SETTINGS, TFS, Env


async def test_backfill_fetches_the_newest_n_whatever_the_cache_holds(binance: Env, redis: Redis) -> None:
    settings = SETTINGS.model_copy(update={"default_candle_target": 50})
    service = warmup_for(redis, binance.adapter, settings, clock=binance.sim.now_ms)
    ex = binance.adapter.exchange_id
    await binance.service.run(ex, binance.symbols, TFS)  # the cache is full and fresh
    before = binance.adapter.metrics.requests
    report = await service.backfill(ex, [binance.symbols[0], "NOPEUSDT"], [Timeframe.H1, Timeframe.M5])
    assert (report.mode, report.status, report.outcome) == ("backfill", "error", "failed")
    assert (report.total_pairs, report.completed_pairs, report.failed_pairs) == (4, 2, 2)
    assert binance.adapter.metrics.requests - before == 2  # fetched again (brute force); the unknown not asked
    assert {(f.symbol, f.error) for f in report.failures} == {("NOPEUSDT", "unknown symbol on binance")}
    cached = await cache_of(redis).get_range(ex, binance.symbols[0], Timeframe.H1)
    assert len(cached) >= 100  # nothing lost: pages replace by open time


async def test_backfill_holds_the_warmup_lease_and_a_stop_ends_it_cancelled(binance: Env, redis: Redis) -> None:
    ex = binance.adapter.exchange_id
    async with LeaseLock(redis, warmup_lock_key(ex), ttl_s=30):  # a warmup (of any process) runs
        with pytest.raises(WarmupAlreadyRunning, match="already running"):
            await binance.service.backfill(ex, binance.symbols, TFS)
    stop = StopRequest()
    stop.request("cancelled", "cancelled by an operator")
    report = await binance.service.backfill(ex, binance.symbols, TFS, stop=stop)
    pairs = len(binance.symbols) * len(TFS)
    assert (report.outcome, report.completed_pairs, report.total_pairs) == ("cancelled", 0, pairs)
    assert report.message == f"cancelled by an operator; {pairs} pairs not backfilled"
    assert not [r for r in binance.sim.log if r.path.endswith("/klines")]
    assert not await binance.service.is_running(ex)  # the lease is released at its end
