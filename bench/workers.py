"""Workers on one schedule, as real processes: `livermore warmup --no-drain` schedules, `livermore
worker` processes fetch.

reclaim: three workers, one killed with SIGKILL once it has done a few pairs (it dies holding the
entries in flight): the run must still complete every pair, the others must have taken the dead
one's entries over (`reclaimed`, from the run's stats) and no key may hold two members of one open
time (`duplicates`, from Redis itself).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson

from harness import BINANCE, Proc, Stack, stack
from livermore.keys import warmup_workers_key
from livermore.models import Timeframe
from livermore.simulator import SimulatorConfig

TIMEFRAMES = [Timeframe.H1, Timeframe.M15, Timeframe.M5]
WORKER_ENV = {"LIVERMORE_RECLAIM_IDLE_S": "2", "LIVERMORE_MAX_IN_FLIGHT": "4"}


async def workers(s: Stack, n: int, sources: Sequence[str] = (), env: dict[str, str] | None = None) -> list[Proc]:
    """`n` workers; with `sources`, the i-th sends from `sources[i]` (its own IP, its own budget)."""
    common = ("--redis-url", s.server.url, "--base-url", s.sim.base_url)
    bound = [("--source-address", ip) for ip in sources] or [()] * n
    return [await s.livermore("worker", *common, *args, env=env or WORKER_ENV) for args in bound[:n]]


async def done_by(s: Stack, proc: Proc) -> int:
    """Pairs the worker has reported done in the current run."""
    names = await s.redis.hkeys(warmup_workers_key(BINANCE))
    mine = [name for name in names if name.decode().endswith(f":{proc.pid}")]
    raw = await s.redis.hget(warmup_workers_key(BINANCE), mine[0]) if mine else None
    return int(orjson.loads(raw)["completedPairs"]) if raw else 0


async def reclaim() -> dict[str, Any]:
    config = SimulatorConfig(exchange="binance", symbols=40, latency_ms=(50.0, 150.0))
    async with stack(config) as s:
        symbols = s.symbols(30)
        doomed, *_ = await workers(s, 3)
        run = await s.warmup(symbols, TIMEFRAMES, "--no-drain", env=WORKER_ENV)
        while await done_by(s, doomed) < 5 and run.alive:
            await asyncio.sleep(0.01)
        doomed.kill9()
        code = await run.ended(180)
        stats = await s.stats()
        found = await s.audit(symbols, TIMEFRAMES)
    complete = code == 0 and stats is not None and stats.outcome == "complete"
    figures = {
        "pairs": len(symbols) * len(TIMEFRAMES),
        "workers": 3,
        "reclaimed": sum(w.reclaimed for w in stats.workers.values()) if stats else 0,
        "complete": complete and stats is not None and stats.completed_pairs == stats.total_pairs,
        "duplicates": found.duplicates,
    }
    print(
        f"reclaim: 3 workers, one killed mid-run: {figures['reclaimed']} entries taken over, "
        f"complete: {figures['complete']}, duplicate scores: {figures['duplicates']}"
    )
    return figures
