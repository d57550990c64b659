"""`livermore serve` as a process: boot, autostart, and SIGTERM or Ctrl-C in the middle of a warmup."""

from __future__ import annotations

import asyncio
import signal
from asyncio.subprocess import PIPE

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from livermore.embedded import RedisServer, free_port
from livermore.keys import warmup_lock_key
from livermore.service import redis_client
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


async def test_serve_outlives_a_redis_restart_mid_warmup_which_then_completes() -> None:
    """Redis SIGKILLed and restarted from its AOF while `serve` warms: the process stays up, the
    run waits for Redis and completes, and the control channel answers afterwards."""
    config = SimulatorConfig(exchange="binance", symbols=6, latency_ms=(200.0, 200.0))
    with RedisServer(appendonly=True) as private:
        redis = redis_client(private.url)  # reconnects after the restart, as the service's own
        async with serve_simulator(config) as sim:
            proc = await livermore(
                *("serve", "--redis-url", private.url, "--base-url", sim.base_url, "--port", str(free_port())),
                *("--top", "4", "--timeframes", "1h,5m", "--autostart"),
                env={"LIVERMORE_ADMIN_TOKEN": "t", "LIVERMORE_MAX_IN_FLIGHT": "1", "LIVERMORE_COMMAND_SUB": "restart"},
            )
            try:
                store = WarmupStore(redis)
                async with asyncio.timeout(30):
                    while (stats := await store.load_stats(BINANCE)) is None or stats.completed_pairs < 1:
                        await asyncio.sleep(0.02)
                private.kill()
                await asyncio.sleep(4)  # longer than redis-py's own retries of one command
                assert proc.returncode is None
                private.start()
                async with asyncio.timeout(60):
                    while (stats := await store.load_stats(BINANCE)) is None or stats.running:
                        await asyncio.sleep(0.05)
                assert (stats.outcome, stats.failed_pairs, stats.completed_pairs) == ("complete", 0, 8)
                status = await livermore("send", "status", "--redis-url", private.url, "--sub", "restart")
                async with asyncio.timeout(30):
                    assert await status.wait() == 0
                proc.send_signal(signal.SIGTERM)
                async with asyncio.timeout(30):
                    assert await proc.wait() == 0
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
                await redis.aclose()


async def test_the_service_client_does_not_see_a_redis_blip() -> None:
    """A connection left stale by a restart is reconnected and the command sent again; a plain
    redis-py client would raise `Connection closed by server` on it."""
    with RedisServer(appendonly=True) as private:
        async with redis_client(private.url) as redis, Redis.from_url(private.url) as plain:
            await redis.set("k", "v")
            await plain.ping()
            private.kill()
            private.start()
            assert await redis.get("k") == b"v"
            with pytest.raises(RedisConnectionError):
                await plain.get("k")
