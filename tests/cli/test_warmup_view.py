"""`livermore warmup` writing to a log (not a terminal): a plain line at each phase, with done/total
and the weight spent against the limiter's budget."""

from __future__ import annotations

from asyncio.subprocess import PIPE

from redis.asyncio import Redis

from livermore.embedded import RedisServer
from livermore.simulator import SimulatorConfig, serve_simulator
from tests.support.processes import livermore


async def test_a_log_reads_each_phase(redis: Redis, redis_server: RedisServer) -> None:
    async with serve_simulator(SimulatorConfig(exchange="binance", symbols=3, weight_limit=1000)) as sim:
        args = ["warmup", "--base-url", sim.base_url, "--redis-url", redis_server.url, "--symbols", "BTCUSDT,ETHUSDT"]
        proc = await livermore(*args, "--timeframes", "1h", stdout=PIPE)
        out, _ = await proc.communicate()
    assert proc.returncode == 0
    lines = [line for line in out.decode().splitlines() if line.startswith("warmup binance: ")]
    phases = [line.split()[2] for line in lines]
    assert (phases[0], phases[1], phases[-1]) == ("scanning", "fetching", "complete")  # touching_up if an hour turns
    # exchangeInfo said 1000 weight a minute; 10% is kept in reserve
    assert lines[-1].startswith("warmup binance: complete  2/2 pairs  ")
    assert "/900 per 60s" in lines[-1]
