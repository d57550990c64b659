"""Cold warmup of 100 symbols x 6 timeframes: the seed's policy vs ours, side by side, in one run.

The simulator (`livermore simulator`, its own process, as a real exchange would be) enforces
Binance's budget at its real rate (6000 weight per minute = 100 weight/s, 50 klines requests/s)
over a shortened window (200 weight per 2 s) with 50-150 ms latency. Both runs start from an empty
cache on the same simulator; its own counters give the 429s it sent. Our limiter keeps a 5% safety margin here
(10% by default): the budget share below is measured against the full published budget.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from redis.asyncio import Redis

from livermore.config import Settings
from livermore.embedded import RedisServer, free_port
from livermore.models import SCAN_TIMEFRAME_ORDER
from livermore.service import adapter_for, warmup_for
from livermore.warmup import WarmupStats

SYMBOLS = 100
WINDOW_S, WEIGHT_LIMIT = 2, 200
BUDGET_WEIGHT_PER_S = WEIGHT_LIMIT / WINDOW_S


@contextmanager
def simulator_process() -> Iterator[str]:
    """`livermore simulator` in its own process; yields its base URL once it answers."""
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "livermore",
        "simulator",
        "--exchange",
        "binance",
        "--port",
        str(port),
        "--symbols",
        str(SYMBOLS),
        "--window-s",
        str(WINDOW_S),
        "--weight-limit",
        str(WEIGHT_LIMIT),
        "--latency-ms",
        "50,150",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{url}/sim/stats", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


async def cold_run(redis: Redis, base_url: str, policy: str) -> WarmupStats:
    await redis.flushdb()
    # The drain alone, as the seed policy had it: no touch-up pass after it (it would add the pairs
    # that aged during the slow seed run, and the two runs would no longer do the same work).
    settings = Settings(safety_margin=0.05, max_in_flight=32, touch_up_passes=0)
    # The rate budget in Redis, as `livermore warmup` has it: one script call per grant.
    adapter = adapter_for(settings, "binance", base_url=base_url, redis=redis)
    try:
        symbols = [s.symbol for s in await adapter.list_symbols()][:SYMBOLS]
        # Start each run at the start of a fresh weight window, so that the first window's burst does
        # not count as if it had the whole run's time: the share below is then only slightly flattered
        # by the last, partly used window.
        await asyncio.sleep(WINDOW_S - time.time() % WINDOW_S + WINDOW_S)
        service = warmup_for(redis, adapter, settings, policy=policy)  # type: ignore[arg-type]
        return await service.run(adapter.exchange_id, symbols, list(SCAN_TIMEFRAME_ORDER))
    finally:
        await adapter.close()


async def measure() -> dict[str, Any]:
    with RedisServer() as server, simulator_process() as base_url:
        async with Redis.from_url(server.url) as redis:
            seed = await cold_run(redis, base_url, "seed")
            smart = await cold_run(redis, base_url, "smart")
        async with httpx.AsyncClient() as client:
            served = (await client.get(f"{base_url}/sim/stats")).json()
    for r in (seed, smart):
        assert r.status == "complete" and r.failed_pairs == 0 and r.completed_pairs == SYMBOLS * 6, r.to_dict()
    seed_s, smart_s = seed.duration_ms / 1000, smart.duration_ms / 1000
    return {
        "pairs": smart.total_pairs,
        "seed_s": seed_s,
        "smart_s": smart_s,
        "ratio": round(seed_s / smart_s, 2),
        "budget_share": round(smart.weight_used / smart_s / BUDGET_WEIGHT_PER_S, 3),
        "seed_budget_share": round(seed.weight_used / seed_s / BUDGET_WEIGHT_PER_S, 3),
        "smart_requests_per_s": round(smart.rest_calls / smart_s, 1),
        "throttled": smart.throttled + seed.throttled,
        "simulator_429s": served["throttled"],
        "simulator_418s": served["banned"],
    }


def main() -> dict[str, Any]:
    f = asyncio.run(measure())
    print(
        f"warmup: {f['pairs']} pairs cold: seed policy {f['seed_s']:.1f} s, smart {f['smart_s']:.1f} s -> "
        f"{f['ratio']}x faster; smart used {f['budget_share']:.0%} of the budget "
        f"({f['smart_requests_per_s']} req/s; seed {f['seed_budget_share']:.0%}); 429s: {f['throttled']}"
    )
    return f


if __name__ == "__main__":
    main()
