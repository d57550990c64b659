"""Two `livermore warmup` processes on one IP, splitting the symbols, against one simulator: their
rate budget is shared in Redis, so together they draw no 429 and no window of the simulator's own
count for the IP goes over the limit."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from livermore.embedded import RedisServer
from livermore.simulator import SimulatorConfig, serve_simulator
from livermore.warmup.store import WarmupStore
from tests.support.processes import livermore

SYMBOLS, LIMIT = 100, 300  # weight per 2 s window: 135 klines requests a second between the two processes


async def test_two_warmups_on_one_ip_share_the_budget(redis: Redis, redis_server: RedisServer) -> None:
    # Latency makes it a real test: a process alone fills the window's budget with requests in flight
    # before any answer could tell it what the other spent.
    config = SimulatorConfig(exchange="binance", symbols=SYMBOLS, window_s=2, weight_limit=LIMIT, latency_ms=(50, 150))
    async with serve_simulator(config) as running:
        sim = running.simulator
        names = sorted(sim.listings)
        halves = {2: names[: SYMBOLS // 2], 12: names[SYMBOLS // 2 :]}  # the second warms under another id
        procs = [
            await livermore(
                *("warmup", "--base-url", running.base_url, "--redis-url", redis_server.url),
                *("--symbols", ",".join(symbols), "--exchange-id", str(exchange_id), "--json"),
            )
            for exchange_id, symbols in halves.items()
        ]
        async with asyncio.timeout(120):
            codes = [await p.wait() for p in procs]
        served: dict[str, Any] = sim.stats()
    runs = [await WarmupStore(redis).load_stats(exchange_id) for exchange_id in halves]
    assert codes == [0, 0] and all(r is not None and r.outcome == "complete" for r in runs)
    first, second = (r for r in runs if r is not None)
    assert first.started_at < second.updated_at and second.started_at < first.updated_at  # side by side
    for run in (first, second):  # every pair, and again those that aged during the run (touch-up)
        assert run.completed_pairs == run.total_pairs == SYMBOLS // 2 * 6 + run.touch_up_pairs
    assert (served["throttled"], served["banned"]) == (0, 0) and first.throttled == second.throttled == 0
    windows = served["by_client"]["127.0.0.1"]["windows"]
    assert len(windows) >= 3 and max(windows.values()) <= LIMIT, windows
