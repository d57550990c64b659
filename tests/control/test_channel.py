"""The control channel over a real Redis and a real (simulated) exchange."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from redis.asyncio import Redis

from livermore.control.client import ControlClient
from livermore.control.protocol import Command
from livermore.embedded import RedisServer
from livermore.keys import command_queue_key, exchange_candle_key, warmup_stats_key
from livermore.models import now_ms
from livermore.warmup import WarmupStats
from livermore.warmup.symbols import MonitoredSymbols
from tests.support.control_world import TIMEFRAMES, World, listening, served_world

PAIRS = 3 * len(TIMEFRAMES)


async def statuses(client: ControlClient, command_type: str, payload: dict | None = None) -> list:
    cid = await client.send(command_type, payload)
    return await client.wait_for(cid)


async def assert_still_serving(client: ControlClient) -> None:
    reply = await client.request("status")
    assert reply.status == "success", reply


async def test_status_acks_then_succeeds_with_symbols_stats_and_schedule(client: ControlClient, world: World) -> None:
    replies = await statuses(client, "status")
    assert [r.status for r in replies] == ["ack", "success"]
    data = replies[-1].data
    assert data["symbols"] == world.symbols
    assert data["running"] is False
    assert data["stats"] is None and data["schedule"] is None


async def finished(world: World) -> WarmupStats:
    """The run's final stats: `start` answers `started` at once, as the original does."""
    stats = await world.service.runner.wait()
    assert stats is not None
    return stats


async def test_start_answers_started_and_warms_every_monitored_pair(
    client: ControlClient, world: World, redis: Redis
) -> None:
    replies = await statuses(client, "start")
    assert [r.status for r in replies] == ["ack", "success"]
    assert replies[-1].data["status"] == "started"
    report = (await finished(world)).to_dict()
    assert (
        report["status"],
        report["totalPairs"] + report["skippedPairs"],
        report["completedPairs"],
        report["failedPairs"],
    ) == ("complete", PAIRS, PAIRS, 0)
    stats = orjson.loads(await redis.get(warmup_stats_key(world.exchange_id)))
    assert (stats["status"], stats["percentComplete"]) == ("complete", 100)
    for symbol in world.symbols:
        for tf in TIMEFRAMES:
            assert await redis.zcard(exchange_candle_key(world.exchange_id, symbol, tf.value)) >= 100

    status = (await client.request("status")).data
    assert status["schedule"]["needsFetching"] == PAIRS
    assert status["stats"]["completedPairs"] == PAIRS


async def test_a_run_with_failed_pairs_ends_failed_in_its_stats(
    client: ControlClient, world: World, redis: Redis
) -> None:
    """A monitored symbol the exchange delisted fails its pairs: the run is `failed`, not a success."""
    await MonitoredSymbols(redis, world.exchange_id).add(["GONEUSDT"])
    assert (await client.request("start")).data["status"] == "started"
    report = (await finished(world)).to_dict()
    assert report["message"].startswith("2 of 8 pairs failed")
    stats = (await client.request("status")).data["stats"]
    assert (stats["outcome"], stats["message"]) == ("failed", report["message"])
    assert (report["outcome"], report["completedPairs"], report["failedPairs"]) == ("failed", PAIRS, len(TIMEFRAMES))


async def test_second_start_is_answered_already_started_and_status_answers_while_a_warmup_runs(
    client: ControlClient, world: World
) -> None:
    world.sim.simulator.set_faults(latency_ms=(300.0, 300.0))
    assert (await client.request("start")).data["status"] == "started"
    second = await statuses(client, "start")
    assert [r.status for r in second] == ["ack", "success"]
    assert second[-1].data["status"] == "already_started" and "already running" in second[-1].data["message"]

    during = await client.request("status")
    assert during.status == "success" and during.data["running"] is True
    clear = await client.request("clear-cache", {"scope": "all"})
    assert clear.status == "error" and "warmup is running" in clear.message

    world.sim.simulator.set_faults(latency_ms=(0.0, 0.0))
    assert (await finished(world)).outcome == "complete"


async def test_cancel_stops_a_running_warmup_at_an_entry_boundary(
    client: ControlClient, world: World, redis: Redis
) -> None:
    world.sim.simulator.set_faults(latency_ms=(200.0, 200.0))
    assert (await client.request("start")).data["status"] == "started"
    assert (await client.request("cancel")).status == "success"
    final = await finished(world)
    assert final.outcome == "cancelled" and final.completed_pairs < PAIRS
    stats = orjson.loads(await redis.get(warmup_stats_key(world.exchange_id)))
    assert (stats["status"], stats["outcome"]) == ("error", "cancelled")
    assert stats["message"].startswith("cancelled by an operator; ")

    nothing = await client.request("cancel")
    assert nothing.status == "error" and nothing.message == "no warmup or backfill is running"


async def test_force_backfill_fetches_the_newest_candles_of_one_symbol(
    client: ControlClient, world: World, redis: Redis
) -> None:
    symbol = world.symbols[0]
    reply = await client.request("force-backfill", {"symbol": symbol.lower(), "timeframes": ["1h"]})
    assert reply.status == "success", reply
    assert reply.data["backfill"]["totalPairs"] == reply.data["backfill"]["completedPairs"] == 1
    assert await redis.zcard(exchange_candle_key(world.exchange_id, symbol, "1h")) >= 100
    assert await redis.zcard(exchange_candle_key(world.exchange_id, symbol, "5m")) == 0


async def test_add_symbol_validates_monitors_and_backfills(client: ControlClient, world: World, redis: Redis) -> None:
    symbol = world.spare[0]
    reply = await client.request("add-symbol", {"symbol": symbol})
    assert reply.status == "success", reply
    assert reply.data["added"] is True and reply.data["backfill"]["completedPairs"] == len(TIMEFRAMES)
    again = await client.request("add-symbol", {"symbol": symbol})
    assert (again.status, again.data["status"], again.data["symbol"]) == ("success", "already_exists", symbol)
    assert await MonitoredSymbols(redis, world.exchange_id).contains(symbol)

    unknown = await client.request("add-symbol", {"symbol": "NOPEUSDT"})
    assert unknown.status == "error" and "unknown symbol" in unknown.message and "NOPEUSDT" in unknown.message
    assert not await MonitoredSymbols(redis, world.exchange_id).contains("NOPEUSDT")

    spelled = world.spare[1].replace("USDT", "-usdt").lower()  # e.g. "eth-usdt": one Binance symbol
    reply = await client.request("add-symbol", {"symbol": spelled})
    assert reply.status == "success" and reply.data["symbol"] == world.spare[1]
    assert world.spare[1] in await MonitoredSymbols(redis, world.exchange_id).all()
    assert not [s for s in await MonitoredSymbols(redis, world.exchange_id).all() if "-" in s]


async def test_remove_symbol(client: ControlClient, world: World, redis: Redis) -> None:
    symbol = world.symbols[0]
    assert (await client.request("remove-symbol", {"symbol": symbol})).status == "success"
    assert await MonitoredSymbols(redis, world.exchange_id).all() == world.symbols[1:]
    again = await client.request("remove-symbol", {"symbol": symbol})
    assert again.status == "success" and again.data["status"] == "not_found"
    assert "not a monitored symbol" in again.data["message"]


async def test_bulk_add_symbols_adds_the_known_and_names_the_unknown(
    client: ControlClient, world: World, redis: Redis
) -> None:
    reply = await client.request("bulk-add-symbols", {"symbols": [*world.spare[:2], "NOPEUSDT", world.symbols[0]]})
    assert reply.status == "success", reply
    assert (reply.data["added"], reply.data["skipped"], reply.data["symbols"]) == (2, 2, world.spare[:2])
    assert reply.data["unknown"] == ["NOPEUSDT"] and reply.data["alreadyMonitored"] == [world.symbols[0]]
    assert reply.data["backfill"]["totalPairs"] == 3 * len(TIMEFRAMES)
    assert len(await MonitoredSymbols(redis, world.exchange_id).all()) == len(world.symbols) + 2

    none_known = await client.request("bulk-add-symbols", {"symbols": ["NOPEUSDT", "NADAUSDT"]})
    assert none_known.status == "error" and "NADAUSDT" in none_known.message


async def test_clear_cache_by_symbol_timeframe_and_all(client: ControlClient, world: World, redis: Redis) -> None:
    await client.request("start")
    await finished(world)
    cleared = await client.request("clear-cache", {"scope": "symbol", "symbol": world.symbols[0]})
    assert cleared.data["deletedCount"] == len(TIMEFRAMES)
    cleared = await client.request("clear-cache", {"scope": "timeframe", "timeframe": "5m"})
    assert cleared.data["deletedCount"] == len(world.symbols) - 1
    cleared = await client.request("clear-cache", {"scope": "all"})
    assert cleared.data["deletedCount"] == len(world.symbols) - 1
    assert not [k async for k in redis.scan_iter(match="candles:*")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"not json at all", "not JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'{"type": "status", "timestamp": 1}', "correlationId"),
    ],
)
async def test_unreadable_messages_get_an_error_with_a_null_correlation_id(
    client: ControlClient, raw: bytes, expected: str
) -> None:
    await client.publish_raw(raw)
    [reply] = await client.wait_for(None)
    assert reply.status == "error" and expected in reply.message
    await assert_still_serving(client)


@pytest.mark.parametrize(
    ("command_type", "payload", "expected"),
    [
        ("launch-rockets", None, "unknown command type 'launch-rockets'"),
        ("force-backfill", None, "symbol: Field required"),
        ("force-backfill", {"symbol": 42}, "symbol: Input should be a valid string"),
        ("force-backfill", {"symbol": "BTCUSDT", "timeframes": ["7m"]}, "unknown timeframe '7m'"),
        ("add-symbol", {"symbol": ""}, "symbol: String should have at least 1 character"),
        ("bulk-add-symbols", {"symbols": "BTCUSDT"}, "symbols: Input should be a valid list"),
        ("bulk-add-symbols", {"symbols": []}, "symbols: List should have at least 1 item"),
        ("clear-cache", {"scope": "everything"}, "scope: Input should be 'all', 'symbol' or 'timeframe'"),
        ("clear-cache", {"scope": "symbol"}, "scope 'symbol' needs a symbol"),
        ("status", {"verbose": True}, "verbose: Extra inputs are not permitted"),
        ("start", {"exchange": "kraken"}, "start names exchange 'kraken', but this service serves 'binance'"),
        ("switch-mode", None, "mode: Field required"),
        ("switch-mode", {"mode": "turbo"}, "invalid mode 'turbo' (valid modes: position-monitor, scalper-macdv"),
        ("pause", {"now": True}, "now: Extra inputs are not permitted"),
    ],
)
async def test_bad_commands_are_refused_naming_the_problem(
    client: ControlClient, command_type: str, payload: dict | None, expected: str
) -> None:
    replies = await statuses(client, command_type, payload)
    assert [r.status for r in replies] == ["error"]
    assert expected in replies[0].message
    await assert_still_serving(client)


async def test_ill_typed_envelopes_are_refused_with_their_correlation_id(client: ControlClient) -> None:
    for envelope, expected in [
        ({"correlationId": "c1", "type": "status", "timestamp": now_ms(), "priority": 500}, "priority"),
        ({"correlationId": "c2", "type": "status", "timestamp": "yesterday"}, "timestamp"),
        ({"correlationId": "c3", "type": "status", "timestamp": now_ms(), "payload": [1]}, "payload"),
    ]:
        await client.publish_raw(orjson.dumps(envelope))
        [reply] = await client.wait_for(envelope["correlationId"])
        assert reply.status == "error" and expected in reply.message
    await assert_still_serving(client)


async def test_commands_older_than_30_seconds_expire(client: ControlClient) -> None:
    cid = await client.send("status", timestamp=now_ms() - 31_000)
    [reply] = await client.wait_for(cid)
    assert (reply.status, reply.message) == ("error", "Command expired")
    await assert_still_serving(client)


async def test_queued_commands_run_in_priority_order(world: World, redis: Redis) -> None:
    """Commands waiting in the queue (here: queued before the listener started) run lowest priority first."""
    channel = world.service.channel
    async with ControlClient(redis, world.settings.command_sub) as observer:
        received = now_ms()
        for cid, priority in [("low", 90), ("high", 10), ("mid", 50), ("mid-later", 50)]:
            cmd = Command(correlation_id=cid, type="status", timestamp=received, priority=priority)
            await channel.enqueue(cmd, received + (cid == "mid-later"))
        async with listening(world, redis):
            await observer.wait_for("low")
        assert [r.correlation_id for r in observer.received] == ["high", "mid", "mid-later", "low"]
        assert await redis.zcard(command_queue_key(world.settings.command_sub)) == 0


@pytest.mark.parametrize("away_s", [0.05, 4.0], ids=["blip", "longer-than-redis-py-retries"])
async def test_the_listener_outlives_a_redis_restart_and_answers_after_it(away_s: float) -> None:
    """Redis killed and restarted from its AOF under a listening channel: the listener subscribes
    again and answers published commands, and the queue's worker runs queued ones."""
    with RedisServer(appendonly=True) as private:
        redis = Redis.from_url(private.url)
        try:
            async with served_world(redis, private.url) as world:
                channel = world.service.channel
                task = asyncio.create_task(channel.run())
                await channel.ready.wait()
                private.kill()
                await asyncio.sleep(away_s)
                private.start()
                async with asyncio.timeout(30), ControlClient(redis, world.settings.command_sub) as client:
                    while not channel.ready.is_set():
                        await asyncio.sleep(0.01)
                    queued = Command(type="status", correlation_id="queued", timestamp=now_ms())
                    await channel.enqueue(queued, now_ms())
                    assert [r.status for r in await client.wait_for("queued")] == ["success"]
                    await assert_still_serving(client)
                assert not task.done()
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        finally:
            await redis.aclose()
