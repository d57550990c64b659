"""`livermore serve` as a process: boot, autostart, and SIGTERM or Ctrl-C in the middle of a warmup."""

from __future__ import annotations

import asyncio
import signal
from asyncio.subprocess import PIPE

import pytest
from redis.asyncio import Redis

from livermore.embedded import RedisServer, free_port
from livermore.keys import warmup_lock_key
from livermore.simulator import SimulatorConfig, serve_simulator
from livermore.warmup.store import WarmupStore
from livermore.warmup.symbols import MonitoredSymbols
from tests.support.processes import livermore

BINANCE = 2


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
async def test_a_signal_interrupts_the_running_warmup_and_the_service_exits_cleanly(
    redis: Redis, redis_server: RedisServer, sig: signal.Signals
) -> None:
    config = SimulatorConfig(exchange="binance", symbols=8, latency_ms=(200.0, 200.0))
    async with serve_simulator(config) as sim:
        proc = await livermore(
            *("serve", "--redis-url", redis_server.url, "--base-url", sim.base_url, "--port", str(free_port())),
            *("--top", "4", "--timeframes", "1h,5m", "--autostart"),
            env={"LIVERMORE_ADMIN_TOKEN": None, "LIVERMORE_MAX_IN_FLIGHT": "1"},
            stdout=PIPE,
        )
        try:
            async with asyncio.timeout(30):
                while (stats := await WarmupStore(redis).load_stats(BINANCE)) is None or stats.status != "fetching":
                    await asyncio.sleep(0.02)
            proc.send_signal(sig)
            async with asyncio.timeout(30):
                out, _ = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    assert proc.returncode == 0
    lines = out.decode().splitlines()
    assert [line for line in lines if line.startswith("admin token (generated, shown once): ")]
    assert lines[-1] == "shutting down"
    assert len(await MonitoredSymbols(redis, BINANCE).all()) == 4
    stats = await WarmupStore(redis).load_stats(BINANCE)
    assert stats is not None
    assert (stats.status, stats.outcome) == ("error", "interrupted")
    assert (stats.message or "").startswith("the service shut down; ")
    assert stats.done_pairs < 8
    assert not await redis.exists(warmup_lock_key(BINANCE))  # the next start does not wait
