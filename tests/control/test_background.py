"""Commands never wait behind work: a backfill (force-backfill, add-symbol, bulk-add-symbols) is the
exchange's job in the background, as a warmup is. The channel answers `ack`, keeps answering other
commands, and sends the original's final reply when the backfill has ended; `cancel` and `stop` end
it; a warmup and a backfill refuse each other, here and across processes (the warmup lease)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from livermore.control.client import ControlClient
from livermore.embedded import RedisServer
from livermore.errors import WarmupAlreadyRunning
from livermore.keys import warmup_lock_key
from livermore.service import warmup_for
from livermore.warmup.lock import LeaseLock
from livermore.warmup.symbols import MonitoredSymbols
from tests.control.shapes import IsoTime, assert_shape
from tests.control.test_original_commands import finished, klines, ok, refused
from tests.support.control_world import TIMEFRAMES, World, served_world

SPARE = 8  # symbols the exchange lists beyond the 3 monitored ones
SPARE_PAIRS = SPARE * len(TIMEFRAMES)
LATENCY_MS = 200.0  # each request: a backfill of the spare symbols takes several of them
ACK = frozenset({"ack"})


@pytest.fixture
async def world(redis: Redis, redis_server: RedisServer) -> AsyncIterator[World]:
    """The served exchange with many symbols not monitored yet, answering every request late."""
    async with served_world(redis, redis_server.url, spare=SPARE) as w:
        w.sim.simulator.set_faults(latency_ms=(LATENCY_MS, LATENCY_MS))
        yield w


async def acked(client: ControlClient, command_type: str, payload: dict[str, Any]) -> str:
    """Send a command and wait for its `ack` only; returns its correlation id."""
    cid = await client.send(command_type, payload)
    await client.wait_for(cid, until=ACK)
    return cid


async def test_a_status_sent_after_a_bulk_add_is_answered_before_the_bulk_adds_final_reply(
    client: ControlClient, world: World
) -> None:
    bulk = await acked(client, "bulk-add-symbols", {"symbols": world.spare})
    status = await client.send("status")
    during = (await client.wait_for(status))[-1]
    replies = await client.wait_for(bulk)
    finals = [(r.correlation_id, r.status) for r in client.received if r.status != "ack"]
    assert finals == [(status, "success"), (bulk, "success")]  # the status did not wait behind the backfill
    assert (during.data["running"], during.data["job"]) == (True, "backfill")

    assert [r.status for r in replies] == ["ack", "success"]
    data = replies[-1].data
    shape = {"added": SPARE, "skipped": 0, "symbols": world.spare, "totalSymbols": 3 + SPARE, "timestamp": IsoTime}
    assert_shape(data, shape)
    assert (data["backfilled"], data["backfill"]["outcome"]) == (True, "complete")
    assert data["backfill"]["completedPairs"] == klines(world) == SPARE_PAIRS


@pytest.mark.parametrize(
    ("command_type", "answer"),
    [("cancel", {"cancelling": True, "job": "backfill"}), ("stop", {"status": "stopped", "outcome": "cancelled"})],
)
async def test_cancel_and_stop_end_a_backfill_and_its_reply_says_cancelled(
    client: ControlClient, world: World, command_type: str, answer: dict[str, Any]
) -> None:
    bulk = await acked(client, "bulk-add-symbols", {"symbols": world.spare})
    assert_shape(await ok(client, command_type), answer)
    reply = (await client.wait_for(bulk))[-1]
    assert reply.status == "success" and reply.data["backfilled"] is False
    backfill = reply.data["backfill"]
    assert (backfill["status"], backfill["outcome"]) == ("error", "cancelled")
    assert backfill["message"].startswith("cancelled by an operator; ")
    assert backfill["completedPairs"] < backfill["totalPairs"] == SPARE_PAIRS
    assert klines(world) < SPARE_PAIRS  # stopped within a request, not after every pair
    assert (await ok(client, "status"))["running"] is False


async def test_a_start_or_another_backfill_during_a_backfill_is_refused_naming_it(
    client: ControlClient, world: World, redis: Redis
) -> None:
    *wanted, last = world.spare
    bulk = await acked(client, "bulk-add-symbols", {"symbols": wanted})
    running = f"a backfill of {len(wanted)} symbols on exchange {world.exchange_id} is already running"
    assert running in (await refused(client, "start")).message
    assert running in (await refused(client, "add-symbol", {"symbol": last})).message
    assert not await MonitoredSymbols(redis, world.exchange_id).contains(last)  # refused: not added

    await ok(client, "cancel")
    assert [r.status for r in await client.wait_for(bulk)] == ["ack", "success"]
    assert (await finished(world)).mode == "backfill"  # the runner's last job: no warmup ran
    assert (await ok(client, "start"))["status"] == "started"  # once it has ended
    assert (await finished(world)).mode == "smart"


async def test_a_backfill_during_a_warmup_is_refused_and_adds_nothing(
    client: ControlClient, world: World, redis: Redis
) -> None:
    await ok(client, "pause")  # the warmup holds before its first request: it runs until the cancel
    assert (await ok(client, "start"))["status"] == "started"
    running = f"a warmup of exchange {world.exchange_id} is already running"
    assert running in (await refused(client, "force-backfill", {"symbol": world.symbols[0]})).message
    assert running in (await refused(client, "bulk-add-symbols", {"symbols": world.spare})).message
    assert not await MonitoredSymbols(redis, world.exchange_id).contains(world.spare[0])
    await ok(client, "cancel")
    assert (await finished(world)).mode == "smart"
    assert klines(world) == 0


async def test_a_backfill_while_another_process_holds_the_warmup_lease_is_refused(
    client: ControlClient, world: World, redis: Redis
) -> None:
    async with LeaseLock(redis, warmup_lock_key(world.exchange_id), ttl_s=30):
        reply = await refused(client, "force-backfill", {"symbol": world.symbols[0]})
    assert "already running in another process" in reply.message
    assert klines(world) == 0


async def test_a_backfill_holds_the_warmup_lease_until_its_end(
    client: ControlClient, world: World, redis: Redis
) -> None:
    """Another process can neither warm the exchange nor clear it while the backfill runs."""
    other = warmup_for(redis, world.service.handlers.warmup.adapter, world.settings)
    bulk = await acked(client, "bulk-add-symbols", {"symbols": world.spare})
    async with asyncio.timeout(10):
        while not await other.is_running(world.exchange_id):
            await asyncio.sleep(0.01)
    with pytest.raises(WarmupAlreadyRunning, match="already running"):
        await other.run(world.exchange_id, world.symbols, TIMEFRAMES)
    assert (await refused(client, "clear-cache", {"scope": "all"})).message.startswith("a backfill is running")

    await ok(client, "cancel")
    await client.wait_for(bulk)
    assert not await other.is_running(world.exchange_id)
