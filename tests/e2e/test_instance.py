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
from tests.support.processes import livermore, reaped, terminated

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
            assert await terminated(first) == 0
        finally:
            await reaped(first)

    assert second.returncode == 1
    text = (out + err).decode()
    assert "Traceback" not in text
    message = " ".join(err.decode().split())  # a console may wrap the one line at its width
    assert message.startswith("error: exchange binance (2) is already served by ")
    assert "one instance per exchange" in message
    assert await state(redis) == "stopped"


async def document(redis: Redis) -> dict[str, object]:
    raw = await redis.get(instance_status_key(BINANCE))
    return orjson.loads(raw) if raw else {}  # type: ignore[no-any-return]


async def test_a_serve_restarted_right_after_kill_9_serves_at_once(redis: Redis, redis_server: RedisServer) -> None:
    """A supervisor restarts at once: the killed instance's key (`active`, 45 s to live) must not
    refuse its successor on the same host."""
    async with serve_simulator(SimulatorConfig(exchange="binance", symbols=4)) as sim:
        args = (
            "serve",
            "--redis-url",
            redis_server.url,
            "--base-url",
            sim.base_url,
            "--top",
            "2",
            "--timeframes",
            "1h",
        )
        killed = await livermore(*args, "--port", str(free_port()))
        async with asyncio.timeout(30):
            while await state(redis) != "active":
                await asyncio.sleep(0.02)
        killed.kill()
        await killed.wait()
        before = await document(redis)
        assert before["connectionState"] == "active" and await redis.ttl(instance_status_key(BINANCE)) > 30
        successor = await livermore(*args, "--port", str(free_port()))
        try:
            async with asyncio.timeout(20):
                while (now := await document(redis))["registeredAt"] == before["registeredAt"]:
                    assert successor.returncode is None, "the successor was refused"
                    await asyncio.sleep(0.02)
                while (now := await document(redis))["connectionState"] != "active":
                    await asyncio.sleep(0.02)
            assert now["connectedAt"] != before["connectedAt"]
        finally:
            successor.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                assert await successor.wait() == 0


async def test_livermore_warmup_is_the_instance_while_it_runs(redis: Redis, redis_server: RedisServer) -> None:
    async with serve_simulator(SimulatorConfig(exchange="binance", symbols=4)) as sim:
        sim.simulator.set_faults(latency_ms=(150.0, 150.0))
        args = ("warmup", "--redis-url", redis_server.url, "--base-url", sim.base_url, "--top", "3")
        run = await livermore(*args, "--timeframes", "1h,5m")
        seen: list[object] = []
        async with asyncio.timeout(60):
            while run.returncode is None:
                if (now := (await document(redis)).get("connectionState")) and now not in seen[-1:]:
                    seen.append(now)
                await asyncio.sleep(0.005)
        assert run.returncode == 0
    doc = await document(redis)
    assert (doc["connectionState"], doc["symbolCount"], doc["lastError"]) == ("stopped", 3, None)
    assert "warming" in seen and seen[-1] == "stopped", seen
