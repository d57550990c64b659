"""`livermore warmup --no-drain` and two `livermore worker` processes, one of them killed with
SIGKILL mid-run: the other takes over its entries, the run completes, no candle is held twice."""

from __future__ import annotations

import asyncio
import signal
import socket

import orjson
from redis.asyncio import Redis

from livermore.embedded import RedisServer
from livermore.keys import warmup_workers_key
from livermore.simulator import SimulatorConfig, serve_simulator
from livermore.warmup.store import WarmupStore
from tests.support.candles import duplicate_scores
from tests.support.processes import livermore

BINANCE = 2
WORKER_ENV: dict[str, str | None] = {"LIVERMORE_MAX_IN_FLIGHT": "1", "LIVERMORE_RECLAIM_IDLE_S": "1"}


async def share(redis: Redis, name: str) -> int:
    raw = await redis.hget(warmup_workers_key(BINANCE), name)
    return int(orjson.loads(raw)["completedPairs"]) if raw else 0


async def test_a_killed_workers_entries_are_taken_over_and_the_run_completes(
    redis: Redis, redis_server: RedisServer
) -> None:
    config = SimulatorConfig(exchange="binance", symbols=6, latency_ms=(150.0, 150.0))
    async with serve_simulator(config) as sim:
        common = ("--redis-url", redis_server.url, "--base-url", sim.base_url)
        doomed = await livermore("worker", *common, env=WORKER_ENV)
        survivor = await livermore("worker", *common, env=WORKER_ENV)
        run = await livermore("warmup", *common, "--top", "4", "--timeframes", "1h,5m,1m", "--no-drain")
        try:
            names = [f"{socket.gethostname()}:{p.pid}" for p in (doomed, survivor)]
            async with asyncio.timeout(60):
                while await share(redis, names[0]) < 1:
                    await asyncio.sleep(0.01)
            doomed.kill()  # mid-entry: it claims the next one as soon as one is done
            async with asyncio.timeout(90):
                assert await run.wait() == 0
        finally:
            for proc in (doomed, survivor, run):
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in (doomed, survivor, run):
                await proc.wait()
    stats = await WarmupStore(redis).load_stats(BINANCE)
    assert stats is not None
    assert (stats.outcome, stats.completed_pairs, stats.failed_pairs) == ("complete", stats.total_pairs, 0)
    assert set(stats.workers) == set(names)
    assert stats.workers[names[1]].reclaimed >= 1  # what the killed one held when it died
    assert await duplicate_scores(redis) == 0


async def test_a_worker_bound_to_127_0_0_2_is_counted_by_the_simulator_under_that_ip(
    redis: Redis, redis_server: RedisServer
) -> None:
    async with serve_simulator(SimulatorConfig(exchange="binance", symbols=3)) as sim:
        common = ("--redis-url", redis_server.url, "--base-url", sim.base_url)
        bound = await livermore("worker", *common, "--source-address", "127.0.0.2", env=WORKER_ENV)
        run = await livermore("warmup", *common, "--top", "2", "--timeframes", "1h,5m", "--no-drain")
        try:
            async with asyncio.timeout(60):
                assert await run.wait() == 0
        finally:
            bound.send_signal(signal.SIGTERM)
            await bound.wait()
        klines = [r for r in sim.simulator.log if r.path.endswith("/klines")]
        by_client = sim.simulator.stats()["by_client"]
    assert len(klines) == 4 and {r.client for r in klines} == {"127.0.0.2"}
    assert by_client["127.0.0.2"]["peak_window_weight"] > 0
