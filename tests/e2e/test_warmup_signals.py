"""Ctrl-C or SIGTERM of `livermore warmup`, on a pipe or a terminal: the run stops at the next
entry, writes its final stats (`interrupted`), lets its lease go and exits with code 3."""

from __future__ import annotations

import asyncio
import os
import pty
import signal
import threading
from asyncio.subprocess import DEVNULL

import pytest
from redis.asyncio import Redis

from livermore.embedded import RedisServer
from livermore.keys import warmup_lock_key
from livermore.simulator import SimulatorConfig, serve_simulator
from livermore.warmup.store import WarmupStore
from tests.support.processes import livermore

BINANCE = 2


def drained_terminal() -> tuple[int, threading.Thread]:
    """A pseudo-terminal for the child's stdout (rich draws its live progress bar there), read in
    the background so the child never blocks on a full buffer."""
    main, child = pty.openpty()

    def drain() -> None:
        try:
            while os.read(main, 4096):
                pass
        except OSError:  # the child closed its end
            pass
        finally:
            os.close(main)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    return child, reader


@pytest.mark.parametrize(
    ("sig", "terminal"),
    [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["ctrl-c-piped", "sigterm-piped", "ctrl-c-terminal"],
)
async def test_a_signal_ends_the_run_truthfully(
    redis: Redis, redis_server: RedisServer, sig: signal.Signals, terminal: bool
) -> None:
    config = SimulatorConfig(exchange="binance", symbols=4, latency_ms=(150.0, 150.0))
    async with serve_simulator(config) as sim:
        stdout, reader = drained_terminal() if terminal else (DEVNULL, None)
        proc = await livermore(
            *("warmup", "--base-url", sim.base_url, "--redis-url", redis_server.url, "--top", "4"),
            *("--timeframes", "1h,5m,1m"),
            env={"LIVERMORE_MAX_IN_FLIGHT": "1"},
            stdout=stdout,
        )
        if terminal:
            os.close(stdout)
        try:
            store = WarmupStore(redis)
            async with asyncio.timeout(30):
                while (stats := await store.load_stats(BINANCE)) is None or stats.completed_pairs < 1:
                    await asyncio.sleep(0.02)
            proc.send_signal(sig)
            async with asyncio.timeout(30):
                code = await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if reader is not None:
            reader.join(5)
    stats = await WarmupStore(redis).load_stats(BINANCE)
    assert stats is not None
    assert (code, stats.status, stats.outcome) == (3, "error", "interrupted")
    assert (stats.message or "").startswith(f"interrupted by {sig.name}; ")
    assert 1 <= stats.completed_pairs < 12
    assert not await redis.exists(warmup_lock_key(BINANCE))  # the next run starts at once
