"""The instance status key over real Redis: registration (SET NX), the refusal of a second instance,
the heartbeat (SET XX, re-created when gone) and the states a full warmup moves it through."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable

import orjson
import pytest
from redis.asyncio import Redis

from livermore.errors import InstanceAlreadyServing
from livermore.keys import instance_lease_key, instance_status_key, warmup_events_channel
from livermore.warmup.instance import InstanceIdentity, InstancePresence
from livermore.warmup.lock import LeaseHolder, pid_namespace
from livermore.warmup.symbols import MonitoredSymbols
from tests.support.control_world import TIMEFRAMES, World
from tests.unit.test_instance_status import FIELDS


def presence(world: World, redis: Redis, *, heartbeat_s: float = 30.0, host: str | None = None) -> InstancePresence:
    monitored = MonitoredSymbols(redis, world.exchange_id)

    async def count() -> int:
        return len(await monitored.all())

    identity = InstanceIdentity(world.exchange_id, "binance", host or socket.gethostname(), country_code="DE")
    return InstancePresence(redis, identity, count, ttl_s=45, heartbeat_s=heartbeat_s)


async def document(redis: Redis, exchange_id: int) -> dict[str, object]:
    raw = await redis.get(instance_status_key(exchange_id))
    assert raw is not None
    doc = orjson.loads(raw)
    assert list(doc) == list(FIELDS)
    for name, types in FIELDS.items():
        assert type(doc[name]) in types, name
    return doc  # type: ignore[no-any-return]


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(20):
        while not await condition():
            await asyncio.sleep(0.01)


async def test_a_full_cycle_starting_warming_active_stopping_stopped(world: World, redis: Redis) -> None:
    key = instance_status_key(world.exchange_id)
    async with presence(world, redis) as p:
        doc = await document(redis, world.exchange_id)
        assert (doc["connectionState"], doc["symbolCount"], doc["connectedAt"]) == ("starting", 3, None)
        assert (doc["exchangeId"], doc["exchangeName"], doc["countryCode"]) == (world.exchange_id, "binance", "DE")
        assert 0 < await redis.ttl(key) <= 45

        async def following() -> bool:
            channel = warmup_events_channel(world.exchange_id)
            return dict(await redis.pubsub_numsub(channel))[channel.encode()] > 0

        await until(following)
        stats = await (await world.service.runner.start(world.symbols, TIMEFRAMES))
        assert stats.outcome == "complete"

        async def active() -> bool:
            return p.status.connection_state == "active"

        await until(active)
        doc = await document(redis, world.exchange_id)
        assert doc["connectionState"] == "active"
        assert doc["connectedAt"] == doc["lastStateChange"]
        assert doc["lastError"] is None
        registered = doc["registeredAt"]
    doc = await document(redis, world.exchange_id)
    assert (doc["connectionState"], doc["connectedAt"], doc["registeredAt"]) == ("stopped", None, registered)
    assert 0 < await redis.ttl(key) <= 45  # `stopped` is left for the admin to read, then expires
    assert p.history == ["starting", "warming", "active", "stopping", "stopped"]


async def test_a_second_instance_is_refused_while_the_first_serves_and_takes_over_once_stopped(
    world: World, redis: Redis
) -> None:
    async with presence(world, redis, host="host-a"):
        with pytest.raises(InstanceAlreadyServing, match=r"already served by host-a \(state starting"):
            async with presence(world, redis, host="host-b"):
                pass
        assert (await document(redis, world.exchange_id))["hostname"] == "host-a"
    async with presence(world, redis, host="host-b") as second:
        doc = await document(redis, world.exchange_id)
        assert (doc["hostname"], doc["connectionState"]) == ("host-b", "starting")
        assert second.history == ["starting"]


async def test_an_instance_of_the_original_holding_the_key_refuses_ours(world: World, redis: Redis) -> None:
    theirs = {name: None for name in FIELDS} | {"exchangeId": 2, "exchangeName": "binance", "hostname": "orig"}
    theirs |= {"connectionState": "active", "symbolCount": 9, "lastHeartbeat": "2026-01-01T00:00:00.000Z"}
    theirs |= {"lastStateChange": "2026-01-01T00:00:00.000Z", "registeredAt": "2026-01-01T00:00:00.000Z"}
    await redis.set(instance_status_key(world.exchange_id), orjson.dumps(theirs), ex=45)
    with pytest.raises(InstanceAlreadyServing, match="expires in"):
        async with presence(world, redis):
            pass
    assert orjson.loads(await redis.get(instance_status_key(world.exchange_id)) or b"") == theirs


async def test_the_heartbeat_refreshes_the_ttl_and_the_count_and_recreates_a_deleted_key(
    world: World, redis: Redis
) -> None:
    key = instance_status_key(world.exchange_id)
    async with presence(world, redis, heartbeat_s=0.02) as p:
        await redis.expire(key, 5)
        await MonitoredSymbols(redis, world.exchange_id).add(world.spare[:1])
        beats = p.heartbeats

        async def beat() -> bool:
            return p.heartbeats > beats

        await until(beat)
        assert await redis.pttl(key) > 5000  # SET XX EX 45 again
        assert (await document(redis, world.exchange_id))["symbolCount"] == 4

        await redis.delete(key)  # as a restarted Redis would have it
        beats = p.heartbeats
        await until(beat)
        doc = await document(redis, world.exchange_id)
        assert doc["connectionState"] == "starting"
        assert await redis.pttl(key) > 5000


async def dead_pid() -> int:
    """The pid of a process of ours that has ended (and been reaped)."""
    proc = await asyncio.create_subprocess_exec("true")
    await proc.wait()
    return proc.pid


async def crashed_instance(redis: Redis, world: World, pid: int) -> None:
    """What `kill -9` of a serving instance with `pid` on this host leaves: its lease and an `active`
    document with most of their 45 s to live."""
    lease = LeaseHolder("their-token", socket.gethostname(), pid, 1, pid_namespace())
    async with presence(world, redis) as crashed:
        await crashed.set_state("active")
        doc = await redis.get(instance_status_key(world.exchange_id))
    await redis.set(instance_status_key(world.exchange_id), doc or b"", ex=45)  # as it was before the kill
    await redis.set(instance_lease_key(world.exchange_id), lease.to_json(), ex=45)


async def test_a_restart_after_kill_takes_a_dead_instances_key_over_at_once(world: World, redis: Redis) -> None:
    await crashed_instance(redis, world, await dead_pid())
    async with presence(world, redis) as restarted:
        doc = await document(redis, world.exchange_id)
        assert doc["connectionState"] == "starting" and restarted.lease.took_over is not None
        holder = LeaseHolder.from_json(await redis.get(instance_lease_key(world.exchange_id)) or b"")
        assert holder.pid == os.getpid()
    assert await redis.get(instance_lease_key(world.exchange_id)) is None  # released on the way out


async def test_a_live_instance_on_this_host_is_never_taken_over(world: World, redis: Redis) -> None:
    await crashed_instance(redis, world, os.getppid())  # a process that runs: not dead, not ours
    with pytest.raises(InstanceAlreadyServing, match=r"already served by .* \(state active"):
        async with presence(world, redis):
            pass
    assert (await document(redis, world.exchange_id))["connectionState"] == "active"
