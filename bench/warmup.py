"""Cold warmup of 100 symbols x 6 timeframes: the seed's policy vs ours, side by side, in one run.

The simulator enforces Binance's budget at its real rate (6000 weight per minute = 100 weight/s,
50 klines requests/s) over a shortened window (600 weight per 6 s) with 50-150 ms latency. Both
runs start from an empty cache on the same simulator. Our limiter keeps a 5% safety margin here
(10% by default): the budget share below is measured against the full published budget.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from livermore.config import Settings
from livermore.embedded import RedisServer
from livermore.exchanges import make_adapter
from livermore.exchanges.simulator import SimulatorConfig
from livermore.exchanges.simulator_server import serve_simulator
from livermore.models import SCAN_TIMEFRAME_ORDER
from livermore.warmup import SmartWarmupService, WarmupReport

SYMBOLS = 100
CONFIG = SimulatorConfig(exchange="binance", symbols=SYMBOLS, window_s=6, weight_limit=600, latency_ms=(50, 150))
BUDGET_WEIGHT_PER_S = CONFIG.weight_limit / CONFIG.window_s


async def cold_run(redis: Redis, base_url: str, policy: str) -> WarmupReport:
    await redis.flushdb()
    settings = Settings(safety_margin=0.05, max_in_flight=32)
    adapter = make_adapter("binance", base_url=base_url, settings=settings)
    try:
        symbols = [s.symbol for s in await adapter.list_symbols()][:SYMBOLS]
        await asyncio.sleep(CONFIG.window_s)  # start each run with a fresh weight window
        service = SmartWarmupService(redis, adapter, settings, policy=policy)  # type: ignore[arg-type]
        return await service.run(adapter.exchange_id, symbols, list(SCAN_TIMEFRAME_ORDER))
    finally:
        await adapter.close()


async def measure() -> dict[str, Any]:
    with RedisServer() as server:
        async with Redis.from_url(server.url) as redis, serve_simulator(CONFIG) as sim:
            seed = await cold_run(redis, sim.base_url, "seed")
            smart = await cold_run(redis, sim.base_url, "smart")
            served = sim.simulator.stats()
    for r in (seed, smart):
        assert r.status == "complete" and r.failed == 0 and r.completed == SYMBOLS * 6, r.as_dict()
    return {
        "pairs": smart.scheduled,
        "seed_s": seed.duration_s,
        "smart_s": smart.duration_s,
        "ratio": round(seed.duration_s / smart.duration_s, 2),
        "budget_share": round(smart.weight_used / smart.duration_s / BUDGET_WEIGHT_PER_S, 3),
        "seed_budget_share": round(seed.weight_used / seed.duration_s / BUDGET_WEIGHT_PER_S, 3),
        "smart_requests_per_s": round(smart.rest_calls / smart.duration_s, 1),
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
