"""`kill -9` of `livermore warmup` mid-run and an immediate rerun, as a supervisor restarts it: the
killed run reads `interrupted`, the rerun takes the lease over at once and ends complete, and the
cache keeps one candle per open time, no hole and every candle it had."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from livermore.embedded import RedisServer
from livermore.models import Timeframe
from livermore.simulator import SimulatorConfig, serve_simulator
from livermore.warmup.store import WarmupStore
from tests.support.cache_audit import audit
from tests.support.processes import livermore

BINANCE = 2
TIMEFRAMES = [Timeframe.H1, Timeframe.M5, Timeframe.M1]


async def test_a_warmup_killed_mid_run_is_redone_by_an_immediate_rerun(redis: Redis, redis_server: RedisServer) -> None:
    store = WarmupStore(redis)
    async with serve_simulator(SimulatorConfig(exchange="binance", symbols=4, latency_ms=(100.0, 100.0))) as sim:
        symbols = sorted(sim.simulator.listings)
        args = (
            *("warmup", "--base-url", sim.base_url, "--redis-url", redis_server.url),
            *("--symbols", ",".join(symbols), "--timeframes", ",".join(tf.value for tf in TIMEFRAMES)),
        )
        killed = await livermore(*args, env={"LIVERMORE_MAX_IN_FLIGHT": "1"})
        async with asyncio.timeout(30):
            while (stats := await store.load_stats(BINANCE)) is None or stats.completed_pairs < 3:
                await asyncio.sleep(0.01)
        killed.kill()
        await killed.wait()
        before = await audit(redis, BINANCE, symbols, TIMEFRAMES, at_ms=stats.updated_at)  # as the run saw them
        interrupted = await store.load_stats(BINANCE)
        rerun = await livermore(*args)
        async with asyncio.timeout(60):
            assert await rerun.wait() == 0
    final = await store.load_stats(BINANCE)
    assert interrupted is not None and final is not None
    assert (interrupted.outcome, final.outcome, final.failed_pairs) == ("interrupted", "complete", 0)
    after = await audit(redis, BINANCE, symbols, TIMEFRAMES, at_ms=final.updated_at)
    assert 3 <= len(before.sufficient) < len(after.counts)
    assert (after.lost_since(before), after.duplicates, after.holes, after.insufficient) == (0, 0, 0, 0)
