"""`livermore serve` twice for one exchange: the second sees the first's instance status key and
refuses with one line; the first's key says active while it serves and stopped once it is gone."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from asyncio.subprocess import PIPE

import orjson
from redis.asyncio import Redis

from livermore.embedded import RedisServer, free_port
from livermore.keys import instance_status_key
from livermore.simulator import SimulatorConfig, serve_simulator
from tests.support.processes import livermore

BINANCE = 2


async def state(redis: Redis) -> str | None:
    raw = await redis.get(instance_status_key(BINANCE))
    return orjson.loads(raw)["connectionState"] if raw else None


async def test_a_second_serve_of_the_exchange_refuses_with_one_line(redis: Redis, redis_server: RedisServer) -> None:
    async with serve_simulator(SimulatorConfig(exchange="binance", symbols=4)) as sim:
        args = ("serve", "--redis-url", redis_server.url, "--base-url", sim.base_url, "--top", "2")
        first = await livermore(*args, "--port", str(free_port()), "--timeframes", "1h", "--autostart")
        try:
            async with asyncio.timeout(30):
                while await state(redis) != "active":
                    await asyncio.sleep(0.02)
            second = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "livermore", *args, "--port", str(free_port()), env=dict(os.environ),
                stdout=PIPE, stderr=PIPE,
            )  # fmt: skip
            async with asyncio.timeout(30):
                out, err = await second.communicate()
            assert await state(redis) == "active"  # the first still holds it
            first.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                assert await first.wait() == 0
        finally:
            if first.returncode is None:
                first.kill()
                await first.wait()

    assert second.returncode == 1
    text = (out + err).decode()
    assert "Traceback" not in text
    message = " ".join(err.decode().split())  # a console may wrap the one line at its width
    assert message.startswith("error: exchange binance (2) is already served by ")
    assert "one instance per exchange" in message
    assert await state(redis) == "stopped"
