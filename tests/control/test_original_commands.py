"""Each of the original's command types, with the payload its admin sends, over real Redis and the
simulator; every reply's `data` is checked field by field and type by type against the original's."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from redis.asyncio import Redis

from livermore.control.client import ControlClient
from livermore.control.protocol import Response
from livermore.embedded import RedisServer
from livermore.keys import instance_status_key
from livermore.models import Timeframe
from livermore.warmup import WarmupStats
from livermore.warmup.store import WarmupStore
from livermore.warmup.symbols import MonitoredSymbols
from tests.control.shapes import IsoTime, assert_shape
from tests.support.candles import clear_of_interval_end
from tests.support.control_world import TIMEFRAMES, World, listening, served_world

PAIRS = 3 * len(TIMEFRAMES)
MODES = ["position-monitor", "scalper-macdv", "scalper-orderbook"]


async def ok(client: ControlClient, command_type: str, payload: dict | None = None) -> dict:
    """The `data` of a command answered ack, then success (a backfilling command's success comes
    when its backfill has ended: the original's reply)."""
    cid = await client.send(command_type, payload)
    replies = await client.wait_for(cid)
    assert [r.status for r in replies] == ["ack", "success"], replies
    return replies[-1].data


async def refused(client: ControlClient, command_type: str, payload: dict | None = None) -> Response:
    cid = await client.send(command_type, payload)
    replies = await client.wait_for(cid)
    assert replies[-1].status == "error", replies
    return replies[-1]


async def finished(world: World) -> WarmupStats:
    stats = await world.service.runner.wait()
    assert stats is not None
    return stats


async def stats_message(redis: Redis, world: World, wanted: str) -> WarmupStats:
    """The published stats once their message is `wanted` (the drain says `paused` when none is in flight)."""
    store = WarmupStore(redis)
    async with asyncio.timeout(30):
        while (stats := await store.load_stats(world.exchange_id)) is None or stats.message != wanted:
            await asyncio.sleep(0.01)
    return stats


def klines(world: World) -> int:
    return sum(1 for r in world.sim.simulator.log if r.path.endswith("/klines"))


async def test_start_with_the_original_admins_payload(client: ControlClient, world: World) -> None:
    data = await ok(client, "start", {"exchange": "binance"})
    assert_shape(data, {"status": "started", "exchange": "binance", "symbolCount": 3, "timestamp": IsoTime})
    assert (await finished(world)).outcome == "complete"
    assert (await ok(client, "start", {"exchange": "Binance"}))["status"] == "started"  # any case
    await finished(world)


async def test_start_naming_another_exchange_is_refused_naming_both(client: ControlClient) -> None:
    reply = await refused(client, "start", {"exchange": "coinbase"})
    assert "'coinbase'" in reply.message and "'binance'" in reply.message


async def test_start_stop_pause_resume_and_their_already_replies(client: ControlClient, world: World) -> None:
    world.sim.simulator.set_faults(latency_ms=(300.0, 300.0))
    assert (await ok(client, "start"))["status"] == "started"
    again = await ok(client, "start", {"exchange": "binance"})
    assert_shape(again, {"status": "already_started", "exchange": "binance", "message": str})
    assert_shape(await ok(client, "pause"), {"status": "paused", "timestamp": IsoTime})
    assert_shape(await ok(client, "pause"), {"status": "already_paused"})
    assert_shape(await ok(client, "resume"), {"status": "resumed", "timestamp": IsoTime})
    assert_shape(await ok(client, "resume"), {"status": "already_running"})
    assert_shape(await ok(client, "stop"), {"status": "stopped", "timestamp": IsoTime})
    assert (await finished(world)).outcome == "cancelled"
    assert_shape(await ok(client, "stop"), {"status": "already_idle", "message": str})


async def test_stop_marks_the_instance_stopped_and_silent_until_the_next_start(
    redis: Redis, redis_server: RedisServer
) -> None:
    async with served_world(redis, redis_server.url, registered=True) as world, listening(world, redis) as client:
        presence = world.service.handlers.ctx.presence
        assert presence is not None
        await presence.set_state("active")  # as `serve` does once it listens
        assert_shape(await ok(client, "stop"), {"status": "stopped", "timestamp": IsoTime})  # no run, yet active
        assert (await instance(redis, world))["connectionState"] == "stopped"
        beats, ttl = presence.heartbeats, await redis.pttl(instance_status_key(world.exchange_id))
        await asyncio.sleep(0.3)  # six heartbeat periods
        assert presence.heartbeats == beats and await redis.pttl(instance_status_key(world.exchange_id)) < ttl
        assert (await ok(client, "stop"))["status"] == "already_idle"

        assert (await ok(client, "start"))["status"] == "started"
        assert (await finished(world)).outcome == "complete"
        async with asyncio.timeout(10):
            while presence.status.connection_state != "active" or presence.heartbeats == beats:
                await asyncio.sleep(0.01)
        assert presence.history[-5:] == ["stopping", "stopped", "starting", "warming", "active"]
        assert (await instance(redis, world))["connectionState"] == "active"


async def instance(redis: Redis, world: World) -> dict:
    raw = await redis.get(instance_status_key(world.exchange_id))
    assert raw is not None
    return orjson.loads(raw)  # type: ignore[no-any-return]


async def test_stop_cancels_a_paused_run(client: ControlClient, world: World, redis: Redis) -> None:
    await ok(client, "pause")
    await ok(client, "start")
    await stats_message(redis, world, "paused")
    assert (await ok(client, "stop"))["outcome"] == "cancelled"
    stats = await WarmupStore(redis).load_stats(world.exchange_id)
    assert stats is not None and (stats.status, stats.outcome, stats.completed_pairs) == ("error", "cancelled", 0)
    assert klines(world) == 0
    assert (await ok(client, "status"))["paused"] is False  # the stop lifted the pause: the next start runs


async def test_pause_mid_run_claims_nothing_until_resume_which_finishes_the_same_schedule(
    client: ControlClient, world: World, redis: Redis
) -> None:
    await clear_of_interval_end(Timeframe.M5, 15)  # no 5m candle closes: a touch-up would refetch it
    world.sim.simulator.set_faults(latency_ms=(300.0, 300.0))
    store = WarmupStore(redis)
    await ok(client, "start")
    async with asyncio.timeout(30):
        while (s := await store.load_stats(world.exchange_id)) is None or not s.completed_pairs:
            await asyncio.sleep(0.01)
    await ok(client, "pause")
    paused = await stats_message(redis, world, "paused")
    schedule = await store.load_schedule(world.exchange_id)
    held = klines(world)
    assert held == paused.completed_pairs < PAIRS  # none in flight, nothing claimed since
    await asyncio.sleep(1.0)  # several request latencies: still nothing asked
    assert klines(world) == held

    await ok(client, "resume")
    final = await finished(world)
    assert (final.outcome, final.completed_pairs, final.touch_up_pairs) == ("complete", PAIRS, 0)
    assert klines(world) == PAIRS  # every pair asked once: the schedule went on, nothing refetched
    assert await store.load_schedule(world.exchange_id) == schedule  # not rescanned


async def test_a_pause_before_start_holds_the_run_before_its_first_request(
    client: ControlClient, world: World, redis: Redis
) -> None:
    await clear_of_interval_end(Timeframe.M5, 10)
    await ok(client, "pause")
    started = await ok(client, "start")
    assert started["paused"] is True
    await stats_message(redis, world, "paused")
    assert klines(world) == 0
    await ok(client, "resume")
    assert (await finished(world)).outcome == "complete"
    assert klines(world) == PAIRS


async def test_reload_settings_rereads_the_monitored_symbols(client: ControlClient, world: World, redis: Redis) -> None:
    await MonitoredSymbols(redis, world.exchange_id).add([world.spare[0]])  # by another process
    data = await ok(client, "reload-settings")
    assert_shape(data, {"reloaded": True, "timestamp": IsoTime, "hasSettings": True})
    assert (data["symbolCount"], data["symbols"]) == (4, sorted([*world.symbols, world.spare[0]]))


@pytest.mark.parametrize("mode", MODES)
async def test_switch_mode_validates_and_says_there_are_no_modes_here(client: ControlClient, mode: str) -> None:
    data = await ok(client, "switch-mode", {"mode": mode})
    assert_shape(data, {"switched": True, "mode": mode, "message": str, "validModes": MODES})
    assert "no strategy modes" in data["message"]


async def test_switch_mode_to_an_unknown_mode_lists_the_valid_ones(client: ControlClient) -> None:
    reply = await refused(client, "switch-mode", {"mode": "yolo"})
    assert "'yolo'" in reply.message and all(mode in reply.message for mode in MODES)


async def test_force_backfill(client: ControlClient, world: World) -> None:
    symbol = world.symbols[0]
    data = await ok(client, "force-backfill", {"symbol": symbol, "timeframes": ["1h"]})
    assert_shape(data, {"backfilled": True, "symbol": symbol, "timeframes": ["1h"], "timestamp": IsoTime})
    data = await ok(client, "force-backfill", {"symbol": symbol})
    assert data["timeframes"] == [tf.value for tf in TIMEFRAMES]


async def test_clear_cache_in_each_scope(client: ControlClient, world: World) -> None:
    await ok(client, "start")
    await finished(world)
    symbol = world.symbols[0]
    data = await ok(client, "clear-cache", {"scope": "symbol", "symbol": symbol})
    shape = {"cleared": True, "scope": "symbol", "symbol": symbol, "timeframe": None, "timestamp": IsoTime}
    assert_shape(data, {**shape, "deletedCount": len(TIMEFRAMES)})
    data = await ok(client, "clear-cache", {"scope": "timeframe", "timeframe": "5m"})
    shape = {"cleared": True, "scope": "timeframe", "symbol": None, "timeframe": "5m", "timestamp": IsoTime}
    assert_shape(data, {**shape, "deletedCount": 2})
    data = await ok(client, "clear-cache", {"scope": "all"})
    shape = {"cleared": True, "scope": "all", "symbol": None, "timeframe": None, "timestamp": IsoTime}
    assert_shape(data, {**shape, "deletedCount": 2})


async def test_add_symbol_then_again(client: ControlClient, world: World) -> None:
    symbol = world.spare[0]
    data = await ok(client, "add-symbol", {"symbol": symbol})
    shape = {"added": True, "symbol": symbol, "totalSymbols": 4, "backfilled": True, "timestamp": IsoTime}
    assert_shape(data, shape)
    again = await ok(client, "add-symbol", {"symbol": symbol})
    assert_shape(again, {"status": "already_exists", "symbol": symbol, "message": str})


async def test_remove_symbol_then_again(client: ControlClient, world: World) -> None:
    symbol = world.symbols[0]
    await ok(client, "force-backfill", {"symbol": symbol})
    data = await ok(client, "remove-symbol", {"symbol": symbol})
    shape = {"removed": True, "symbol": symbol, "totalSymbols": 2, "timestamp": IsoTime}
    assert_shape(data, {**shape, "deletedCount": len(TIMEFRAMES)})
    again = await ok(client, "remove-symbol", {"symbol": symbol})
    assert_shape(again, {"status": "not_found", "symbol": symbol, "message": str})


async def test_bulk_add_symbols_counts_added_and_skipped(client: ControlClient, world: World) -> None:
    wanted = [*world.spare[:2], world.symbols[0], "NOPEUSDT"]
    data = await ok(client, "bulk-add-symbols", {"symbols": wanted})
    shape = {"added": 2, "skipped": 2, "symbols": world.spare[:2], "totalSymbols": 5, "timestamp": IsoTime}
    assert_shape(data, shape)


async def test_a_remove_during_a_warmup_is_refused_and_keeps_the_symbol(client: ControlClient, world: World) -> None:
    """Its deletes hold the warmup lease, as a clear does: a run would write back from a stale scan."""
    world.sim.simulator.set_faults(latency_ms=(300.0, 300.0))
    await ok(client, "start")
    reply = await refused(client, "remove-symbol", {"symbol": world.symbols[0]})
    assert "warmup is running" in reply.message
    assert world.symbols[0] in (await ok(client, "status"))["symbols"]
    await ok(client, "stop")
