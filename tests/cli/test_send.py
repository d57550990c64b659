"""`livermore send` against a served exchange: --no-wait returns after the ack, `start` is followed
to its end by the warmup's stats and exits with its outcome's code, `status` is readable."""

from __future__ import annotations

import asyncio
import os
import sys
from asyncio.subprocess import PIPE

from redis.asyncio import Redis

from livermore.embedded import RedisServer
from livermore.keys import monitored_symbols_key
from livermore.warmup.store import WarmupStore
from tests.support.control_world import World, listening


async def send(world: World, redis_server: RedisServer, *args: str, exchange_id: int | None = None) -> tuple[int, str]:
    """`livermore send ARGS` as a process on the world's channel: exit code and stdout (then stderr)."""
    eid = world.exchange_id if exchange_id is None else exchange_id
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "livermore", "send", *args, "--redis-url", redis_server.url),
        *("--sub", world.settings.command_sub, "--exchange-id", str(eid)),
        env=os.environ,
        stdout=PIPE,
        stderr=PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    return proc.returncode or 0, out.decode() + err.decode()


async def test_no_wait_returns_after_the_ack(world: World, redis: Redis, redis_server: RedisServer) -> None:
    async with listening(world, redis):
        code, out = await send(world, redis_server, "status", "--no-wait")
    assert code == 0
    assert '"status": "ack"' in out
    assert '"success"' not in out


async def test_start_is_followed_to_its_end(world: World, redis: Redis, redis_server: RedisServer) -> None:
    async with listening(world, redis):
        code, out = await send(world, redis_server, "start")
    assert code == 0, out
    stats = await WarmupStore(redis).load_stats(world.exchange_id)
    assert stats is not None and stats.outcome == "complete"
    progress = [line for line in out.splitlines() if line.startswith(f"start (exchange {world.exchange_id}): ")]
    assert progress[-1].startswith(f"start (exchange {world.exchange_id}): complete  6/6 pairs")
    assert any(": fetching " in line for line in progress)


async def test_a_second_start_follows_its_own_run_not_the_last_one(
    world: World, redis: Redis, redis_server: RedisServer
) -> None:
    """The stats key still holds the previous run's `complete` when the next start is sent."""
    async with listening(world, redis):
        assert (await send(world, redis_server, "start"))[0] == 0
        first = await WarmupStore(redis).load_stats(world.exchange_id)
        code, out = await send(world, redis_server, "start")
    second = await WarmupStore(redis).load_stats(world.exchange_id)
    assert code == 0, out
    assert first is not None and second is not None and second.started_at > first.started_at
    assert first.rest_calls > second.rest_calls  # the second finds the cache warm
    last = out.splitlines()[-1]
    assert last.startswith(f"start (exchange {world.exchange_id}): complete  ")
    assert last.endswith(f"rest_calls={second.rest_calls}")


async def test_a_start_is_followed_on_the_exchange_its_reply_names(
    world: World, redis: Redis, redis_server: RedisServer
) -> None:
    """`send start` without --exchange against a service of another exchange: the reply's
    exchangeId says which stats to follow."""
    async with listening(world, redis):
        code, out = await send(world, redis_server, "start", exchange_id=world.exchange_id + 40)
    assert code == 0, out
    assert out.splitlines()[-1].startswith(f"start (exchange {world.exchange_id}): complete  6/6 pairs")


async def test_a_refused_start_exits_1(world: World, redis: Redis, redis_server: RedisServer) -> None:
    await redis.delete(monitored_symbols_key(world.exchange_id))
    async with listening(world, redis):
        code, out = await send(world, redis_server, "start", "--timeout", "10")
    assert code == 1
    assert '"status": "error"' in out
    assert await WarmupStore(redis).load_stats(world.exchange_id) is None


async def test_status_is_indented_json(world: World, redis: Redis, redis_server: RedisServer) -> None:
    async with listening(world, redis):
        code, out = await send(world, redis_server, "status")
    assert code == 0
    assert '  "status": "success",' in out.splitlines()


async def test_an_acknowledged_command_without_its_final_reply_in_time_says_so(
    world: World, redis: Redis, redis_server: RedisServer
) -> None:
    world.sim.simulator.set_faults(latency_ms=(3000.0, 3000.0))
    payload = f'{{"symbol": "{world.symbols[0]}"}}'
    async with listening(world, redis):
        code, out = await send(world, redis_server, "force-backfill", "--payload", payload, "--timeout", "0.5")
    assert code == 1
    assert '"status": "ack"' in out
    assert "error: acknowledged, but no final reply within 0.5s" in out
