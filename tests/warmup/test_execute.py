"""WarmupService against real Redis and the exchange simulator on loopback."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import replace
from typing import Any, Literal

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from livermore.embedded import RedisServer, free_port
from livermore.errors import WarmupAlreadyRunning
from livermore.keys import (
    exchange_candle_key,
    warmup_events_channel,
    warmup_lock_key,
    warmup_stats_key,
)
from livermore.models import Timeframe
from livermore.service import adapter_for, redis_client, warmup_for
from livermore.simulator import Simulator, SimulatorConfig
from livermore.warmup import WarmupStats
from livermore.warmup.ending import StopRequest
from livermore.warmup.fetch import PairFetcher
from tests.support.candles import cache_of, duplicate_scores, ledger_entry_of
from tests.support.processes import livermore
from tests.support.warmup_world import SETTINGS, TFS, Env, make_env


async def assert_complete_and_true(env: Env, symbols: list[str] | None = None) -> None:
    """Every pair holds >= the target, contiguous, and its closed candles equal the simulator's
    (but the newest closed one, when the clock moved on since the run: held as it was while still
    open, it is what the next scan calls `partial`)."""
    cache = cache_of(env.redis)
    now = env.sim.now_ms()
    for symbol in symbols or env.symbols:
        for tf in TFS:
            cached = await cache.get_range(env.adapter.exchange_id, symbol, tf)
            assert len(cached) >= SETTINGS.default_candle_target, (symbol, tf)
            times = [c.timestamp for c in cached]
            assert times == list(range(times[0], times[-1] + 1, tf.ms)), (symbol, tf, "not contiguous")
            closed_end = tf.floor(now) - 2 * tf.ms
            truth = env.sim.candles(symbol, tf, times[0], closed_end)
            assert [c for c in cached if c.timestamp <= closed_end] == truth


async def test_cold_run_fills_everything_then_warm_run_makes_no_call(binance: Env) -> None:
    binance.pin()
    cold = await binance.service.run(binance.adapter.exchange_id, binance.symbols, TFS)
    assert (cold.status, cold.total_pairs, cold.completed_pairs, cold.failed_pairs) == ("complete", 12, 12, 0)
    assert cold.throttled == 0 and cold.candles_written >= 12 * 100
    await assert_complete_and_true(binance)
    warm = await binance.service.run(binance.adapter.exchange_id, binance.symbols, TFS)
    assert (warm.total_pairs, warm.rest_calls, warm.skipped_pairs) == (0, 0, 12)


async def test_aged_cache_is_topped_up_with_its_tail_only(binance: Env) -> None:
    ex = binance.adapter.exchange_id
    hour = Timeframe.H1.floor(binance.sim.now_ms())
    binance.pin(hour + 10 * 60_000 + 30_000)
    await binance.service.run(ex, binance.symbols, TFS)
    binance.pin(hour + 50 * 60_000 + 30_000)  # 40 minutes pass: 1m and 5m pairs go stale, the hour is still open
    aged = await binance.service.run(ex, binance.symbols, TFS)
    assert aged.total_pairs == 8 and aged.completed_pairs == 8
    assert aged.rest_calls == 8  # one request per stale pair: only the tail
    schedule = await binance.service.store.load_schedule(ex)
    assert schedule is not None and {e.reason for e in schedule.entries} == {"stale"}
    await assert_complete_and_true(binance)


async def test_holed_pair_is_repaired(binance: Env) -> None:
    ex = binance.adapter.exchange_id
    binance.pin()
    await binance.service.run(ex, binance.symbols, TFS)
    key = exchange_candle_key(ex, binance.symbols[0], "5m")
    scores = [int(s) for _, s in await binance.redis.zrange(key, -20, -20, withscores=True)]
    await binance.redis.zremrangebyscore(key, scores[0], scores[0])
    repair = await binance.service.run(ex, binance.symbols, TFS)
    assert (repair.total_pairs, repair.completed_pairs, repair.rest_calls) == (1, 1, 1)
    await assert_complete_and_true(binance)


ILLIQUID_COINBASE = SimulatorConfig(
    exchange="coinbase", symbols=3, no_trade_symbols=["ETH-USD"], coinbase_rate_per_s=50, burst=50
)


async def ledger_entry(env: Env, symbol: str, tf: Timeframe) -> dict[str, Any]:
    """The pair's coverage ledger entry ({} when it has none)."""
    return await ledger_entry_of(env.redis, env.adapter.exchange_id, symbol, tf) or {}


async def test_an_illiquid_coinbase_pair_converges_with_only_real_candles(redis: Redis) -> None:
    """Coinbase omits intervals without trades: the cache holds exactly what it returned (no
    synthetic member), the ledger confirms the silences, and the second start makes no call."""
    async for env in make_env(redis, ILLIQUID_COINBASE, "coinbase"):
        now = env.pin()
        assert "ETH-USD" in env.symbols
        first = await env.service.run(env.adapter.exchange_id, env.symbols, TFS)
        assert first.status == "complete" and first.failed_pairs == 0
        second = await env.service.run(env.adapter.exchange_id, env.symbols, TFS)
        assert (second.total_pairs, second.rest_calls) == (0, 0)
        for tf in TFS:
            cached = await cache_of(redis).get_range(1, "ETH-USD", tf)
            assert not [c for c in cached if c.is_synthetic]
            assert cached == env.sim.candles("ETH-USD", tf, tf.floor(now) - 99 * tf.ms, now)
            entry = await ledger_entry(env, "ETH-USD", tf)
            assert entry["empty"] and "historyStart" not in entry


async def test_unknown_symbols_fail_without_a_request_and_the_others_complete(binance: Env) -> None:
    """Unknown symbols are found in the exchange's list before any candle request; an operator's
    spelling is taken where it names one symbol (`ethusdt`, `BTC-USDT`); the run says `failed`."""
    symbols = [binance.symbols[0].lower(), *binance.symbols[1:], "NOPEUSDT", "FOOBARUSDT"]
    report = await binance.service.run(binance.adapter.exchange_id, symbols, TFS)
    assert (report.status, report.outcome) == ("error", "failed")
    assert (report.completed_pairs, report.failed_pairs, report.total_pairs) == (12, 6, 18)
    assert {f.symbol for f in report.failures} == {"NOPEUSDT", "FOOBARUSDT"}
    assert report.rest_calls == 12  # a klines page per known pair (the world asked for exchangeInfo already)
    assert "6 of 18 pairs failed" in (report.message or "")
    await assert_complete_and_true(binance)


async def test_a_warm_restart_asks_the_exchange_nothing(binance: Env) -> None:
    binance.pin()
    await binance.service.run(binance.adapter.exchange_id, binance.symbols, TFS)
    fresh = warmup_for(binance.redis, binance.adapter, SETTINGS, clock=binance.sim.now_ms)  # no cached symbol list
    before = len(binance.sim.log)
    report = await fresh.run(binance.adapter.exchange_id, binance.symbols, TFS)
    assert (report.outcome, report.rest_calls, len(binance.sim.log) - before) == ("complete", 0, 0)


async def test_injected_429_and_5xx_are_survived(binance: Env) -> None:
    binance.pin()  # a run that sees a minute close would touch its 1m pairs up: 16 pairs, not 12
    binance.sim.set_faults(error_rate=0.2, force_429=2, force_429_retry_after_s=1)
    report = await binance.service.run(binance.adapter.exchange_id, binance.symbols, TFS)
    assert (report.status, report.completed_pairs, report.failed_pairs) == ("complete", 12, 0)
    assert report.throttled >= 1 and report.retries >= 1
    binance.sim.set_faults(error_rate=0.0)
    await assert_complete_and_true(binance)


async def test_two_concurrent_runs_one_refuses(binance: Env) -> None:
    ex = binance.adapter.exchange_id
    binance.sim.set_faults(latency_ms=(20, 40))
    first = asyncio.create_task(binance.service.run(ex, binance.symbols, TFS))
    await asyncio.sleep(0.05)
    with pytest.raises(WarmupAlreadyRunning, match="already running"):
        await binance.service.run(ex, binance.symbols, TFS)
    assert (await first).status == "complete"


async def test_stats_have_every_field_and_end_complete(binance: Env) -> None:
    seen: list[tuple[str, int]] = []  # (status, percentComplete) of every update
    channel = warmup_events_channel(binance.adapter.exchange_id)
    async with binance.redis.pubsub() as pubsub:
        await pubsub.subscribe(channel)
        await binance.service.run(binance.adapter.exchange_id, binance.symbols, TFS)
        while not seen or seen[-1][0] != "complete":
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if msg is not None:
                doc = orjson.loads(msg["data"])
                seen.append((doc["status"], doc["percentComplete"]))
    stats = orjson.loads(await binance.redis.get(warmup_stats_key(binance.adapter.exchange_id)))
    assert list(stats) == list(WarmupStats.model_validate(stats).to_dict())  # every field (order pinned in unit/)
    assert (stats["status"], stats["outcome"], stats["percentComplete"], stats["completedPairs"]) == (
        "complete",
        "complete",
        100,
        12,
    )
    assert seen[0] == ("scanning", 0)  # not "Scanning | 100%": nothing is known yet
    assert "fetching" in {status for status, _ in seen} and seen[-1] == ("complete", 100)
    assert await binance.redis.ttl(warmup_stats_key(binance.adapter.exchange_id)) == -1


async def test_cancel_stops_at_an_entry_boundary(binance: Env) -> None:
    stop = StopRequest()
    stop.request("cancelled", "cancelled by an operator")
    report = await binance.service.run(binance.adapter.exchange_id, binance.symbols, TFS, stop=stop)
    assert (report.status, report.outcome, report.completed_pairs) == ("error", "cancelled", 0)
    assert report.message == "cancelled by an operator; 12 pairs left for the next run"
    assert not [r for r in binance.sim.log if r.path.endswith("/klines")]


async def test_kill_9_midway_then_rerun_completes_without_duplicates(
    binance: Env, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    binance.sim.set_faults(latency_ms=(30, 60))
    symbols = ",".join(binance.symbols)
    proc = await livermore(
        *("warmup", "--base-url", binance.base_url, "--redis-url", redis_server.url, "--symbols", symbols),
        *("--timeframes", "1h,5m,1m"),
        env={"LIVERMORE_MAX_IN_FLIGHT": "2"},  # the lease lives 30 s: the rerun must not wait for it
    )
    keys: list[bytes] = []
    for _ in range(400):  # wait until it has written some pairs, but not all
        keys = [k async for k in binance.redis.scan_iter(match="candles:*")]
        if len(keys) >= 3:
            break
        await asyncio.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert 3 <= len(keys) < 12
    binance.sim.set_faults(latency_ms=(0, 0))
    stale = await binance.service.store.load_stats(binance.adapter.exchange_id)
    assert stale is not None and stale.outcome == "interrupted"  # its lease names a dead pid of this host
    with caplog.at_level(logging.WARNING, logger="livermore.warmup"):
        rerun = await binance.service.run(binance.adapter.exchange_id, binance.symbols, TFS)
    assert rerun.status == "complete" and rerun.failed_pairs == 0 and 0 < rerun.total_pairs < 12
    assert "took over the lease" in caplog.text and "waiting for the lease" not in caplog.text
    assert await duplicate_scores(binance.redis) == 0
    await assert_complete_and_true(binance)


@pytest.mark.standalone  # stops its own private server
async def test_redis_away_past_the_outage_limit_ends_the_run_interrupted_with_no_failure(binance: Env) -> None:
    binance.sim.set_faults(latency_ms=(20, 40))
    settings = SETTINGS.model_copy(update={"redis_outage_limit_s": 1.0})
    with RedisServer() as private:
        async with Redis.from_url(private.url, socket_timeout=2) as redis:
            service = warmup_for(redis, binance.adapter, settings, clock=binance.sim.now_ms)
            run = asyncio.create_task(service.run(binance.adapter.exchange_id, binance.symbols, TFS))
            while not await redis.exists(exchange_candle_key(binance.adapter.exchange_id, binance.symbols[0], "1h")):
                await asyncio.sleep(0.01)
            private.stop()
            report = await run
    assert (report.status, report.outcome) == ("error", "interrupted")
    assert report.message and report.message.startswith("Redis was unreachable for over 1 s; ")
    assert report.failed_pairs == 0 and report.completed_pairs < 12  # Redis's absence fails no pair


@pytest.mark.standalone  # stops its own private server
async def test_a_redis_restart_mid_run_pauses_the_run_which_then_completes(
    binance: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis killed and restarted from its AOF while pages are in flight, away longer than redis-py's
    own retries: no claim and no write meanwhile, then the same run goes on and completes."""
    binance.sim.set_faults(latency_ms=(150, 250))
    settings = SETTINGS.model_copy(update={"lock_ttl_s": 30, "max_in_flight": 2})
    with RedisServer(appendonly=True) as private:
        async with Redis.from_url(private.url) as redis:
            service = warmup_for(redis, binance.adapter, settings, clock=binance.sim.now_ms)
            with caplog.at_level(logging.WARNING, logger="livermore.warmup"):
                run = asyncio.create_task(service.run(binance.adapter.exchange_id, binance.symbols, TFS))
                first = exchange_candle_key(binance.adapter.exchange_id, binance.symbols[0], "1h")
                while not await redis.exists(first):
                    await asyncio.sleep(0.01)
                private.kill()
                await asyncio.sleep(5)  # redis-py retries a command for ~3 s on its own
                assert not run.done()
                private.start()
                report = await run
            assert "Redis went away" in caplog.text and "Redis is back after" in caplog.text
            assert (report.outcome, report.failed_pairs, report.completed_pairs) == ("complete", 0, report.total_pairs)
            assert await duplicate_scores(redis) == 0
            await assert_complete_and_true(replace(binance, redis=redis, service=service))


async def test_a_ban_stops_the_run_and_the_report_says_so(binance: Env) -> None:
    """Another process on our IP ignores a 429: the IP is banned (418), and our run stops sending."""
    binance.sim.set_faults(force_429=1, force_429_retry_after_s=30)
    async with httpx.AsyncClient(base_url=binance.base_url) as rogue:
        assert (await rogue.get("/api/v3/ping")).status_code == 429
        await asyncio.sleep(0.6)  # past the grace for requests already on their way
        assert (await rogue.get("/api/v3/ping")).status_code == 418
    report = await binance.service.run(binance.adapter.exchange_id, binance.symbols, TFS)
    assert report.status == "error" and "418" in (report.message or "")
    assert report.banned >= 1 and report.rest_calls <= SETTINGS.max_in_flight
    assert report.completed_pairs == 0 and "pairs left for the next run" in (report.message or "")


@pytest.mark.parametrize(("exchange", "symbol"), [("binance", "ETHUSDT"), ("coinbase", "ETH-USD")])
async def test_a_recent_listing_converges(redis: Redis, exchange: Literal["binance", "coinbase"], symbol: str) -> None:
    """A symbol listed 30 minutes ago has 31 one-minute candles, fewer than the threshold: after
    one fetch the cache knows that is all there is, and the next run makes no call. Binance returns
    a candle for every interval, quiet or not: its first candle after the start is where the
    history starts. Coinbase omits quiet intervals: the silence before the listing is confirmed empty."""
    now = Simulator(SimulatorConfig(exchange=exchange, symbols=2)).now_ms()
    listing = Timeframe.M1.floor(now) - 30 * 60_000
    config = SimulatorConfig(
        exchange=exchange, symbols=2, listings={symbol: listing}, fixed_time_ms=now, coinbase_rate_per_s=50, burst=50
    )
    async for env in make_env(redis, config, exchange):
        first = await env.service.run(env.adapter.exchange_id, env.symbols, [Timeframe.M1])
        assert first.completed_pairs == 2
        cached = await cache_of(redis).get_range(env.adapter.exchange_id, symbol, Timeframe.M1)
        assert cached[0].timestamp == listing and len(cached) == 31
        entry = await ledger_entry(env, symbol, Timeframe.M1)
        assert entry.get("historyStart") == (listing if exchange == "binance" else None)
        second = await env.service.run(env.adapter.exchange_id, env.symbols, [Timeframe.M1])
        assert (second.total_pairs, second.rest_calls) == (0, 0)


async def test_a_long_listed_coinbase_pair_with_a_quiet_first_interval_is_not_young(redis: Redis) -> None:
    """The first interval of the window had no trade: Coinbase returns nothing for it, as it would
    before a listing. Illiquid is not new: no history start; the quiet interval is confirmed empty."""
    tf = Timeframe.M5
    probe = Simulator(ILLIQUID_COINBASE)
    base = probe.listings["ETH-USD"].base
    at = next(
        t
        for t in range(probe.now_ms(), probe.now_ms() + 100 * tf.ms, tf.ms)
        if probe.market.is_empty(base, tf, tf.floor(t) - 99 * tf.ms)
    )
    async for env in make_env(redis, ILLIQUID_COINBASE.model_copy(update={"fixed_time_ms": at}), "coinbase"):
        first = await env.service.run(env.adapter.exchange_id, env.symbols, [tf])
        assert first.completed_pairs == 3
        entry = await ledger_entry(env, "ETH-USD", tf)
        assert "historyStart" not in entry and tf.floor(at) - 99 * tf.ms in entry["empty"]
        second = await env.service.run(env.adapter.exchange_id, env.symbols, [tf])
        assert (second.total_pairs, second.rest_calls) == (0, 0)


async def test_an_open_candle_cached_mid_interval_is_replaced_after_it_closes(binance: Env) -> None:
    """Warmed 30 s into a minute, the 1m candle is half-formed; warmed again 3 s after that minute
    closed, every pair is `partial` and fetched again from that candle: it becomes the closed one."""
    ex, m1 = binance.adapter.exchange_id, Timeframe.M1
    minute = m1.floor(binance.sim.now_ms())
    binance.pin(minute + 30_000)
    await binance.service.run(ex, binance.symbols, [m1])
    binance.pin(minute + 63_000)
    again = await binance.service.run(ex, binance.symbols, [m1])
    assert (again.total_pairs, again.rest_calls) == (4, 4)  # one request per pair: only the tail
    schedule = await binance.service.store.load_schedule(ex)
    assert schedule is not None and {(e.reason, e.fetch_from) for e in schedule.entries} == {("partial", minute)}
    for symbol in binance.symbols:
        [closed] = await cache_of(binance.redis).get_range(ex, symbol, m1, minute, minute)
        assert [closed] == binance.sim.candles(symbol, m1, minute, minute)
    settled = await binance.service.run(ex, binance.symbols, [m1])
    assert settled.rest_calls == 0


async def test_a_binance_hole_is_refetched(binance: Env) -> None:
    """Binance returns zero-volume candles for quiet intervals: an interval it did not return is an
    outage, never confirmed empty; the pair is a `gap` until the exchange has the candle again."""
    ex = binance.adapter.exchange_id
    now = binance.pin()
    m5 = Timeframe.M5
    hole = next(t for t in (m5.floor(now) - k * m5.ms for k in range(2, 11)) if t % Timeframe.H1.ms)
    symbol = binance.symbols[1]
    binance.sim.set_faults(outages={symbol: (hole, hole + 1)})  # the 5m and the 1m candle opening then
    await binance.service.run(ex, binance.symbols, TFS)
    holed = [(r.timeframe, r.reason) for r in await binance.service.scan(ex, binance.symbols, TFS) if not r.sufficient]
    assert holed == [(Timeframe.M5, "gap"), (Timeframe.M1, "gap")]
    assert "empty" not in await ledger_entry(binance, symbol, m5)
    binance.sim.set_faults(outages={})
    repair = await binance.service.run(ex, binance.symbols, TFS)
    assert (repair.total_pairs, repair.completed_pairs, repair.rest_calls) == (2, 2, 2)
    await assert_complete_and_true(binance)


async def test_a_stopped_feed_is_stale(binance: Env) -> None:
    """The exchange's data for a symbol stopped 2 hours ago: nothing is invented after it, and
    its pairs are never judged sufficient (Binance's silence is an outage, not a quiet market)."""
    ex = binance.adapter.exchange_id
    now = binance.pin()
    symbol = binance.symbols[0]
    binance.sim.set_faults(outages={symbol: (now - 2 * 3_600_000, now + 3_600_000)})
    report = await binance.service.run(ex, binance.symbols, TFS)
    # fetched in the drain and in both touch-up passes, still not whole: failed, and the run says so
    assert (report.outcome, report.touch_up_pairs, report.total_pairs) == ("failed", 6, 18)
    assert (report.completed_pairs, report.failed_pairs) == (15, 3)
    assert {f.error for f in report.failures} == {
        "still stale after fetching: the exchange sent nothing to make it whole",
        "still empty after fetching: the exchange sent nothing to make it whole",
    }
    verdicts = {(r.symbol, r.timeframe): r.reason for r in await binance.service.scan(ex, binance.symbols, TFS)}
    assert {tf: verdicts.pop((symbol, tf)) for tf in TFS} == {
        Timeframe.H1: "stale",
        Timeframe.M5: "stale",
        Timeframe.M1: "empty",  # the 1m window (100 minutes) lies wholly in the silence
    }
    assert set(verdicts.values()) == {"ok"}
    for tf in TFS:
        cached = await cache_of(binance.redis).get_range(ex, symbol, tf)
        assert all(c.timestamp < now - 2 * 3_600_000 and not c.is_synthetic for c in cached)
    await binance.service.run(ex, binance.symbols, TFS)
    schedule = await binance.service.store.load_schedule(ex)  # the next run fetches them again
    assert schedule is not None and [(e.symbol, e.timeframe, e.reason) for e in schedule.entries] == [
        (symbol, Timeframe.H1, "stale"),
        (symbol, Timeframe.M5, "stale"),
        (symbol, Timeframe.M1, "empty"),
    ]


async def test_synthetic_members_can_still_be_materialised(redis: Redis) -> None:
    """Off by default; when asked for, each confirmed-empty interval after a known candle gets a
    synthetic member (previous close, volume 0), and the scan counts it once."""
    async for env in make_env(redis, ILLIQUID_COINBASE, "coinbase"):
        now = env.pin()
        ex, m1 = env.adapter.exchange_id, Timeframe.M1
        fetch = PairFetcher(env.adapter, cache_of(redis), ex, env.sim.now_ms, materialise_synthetic=True)
        await fetch("ETH-USD", m1, m1.floor(now) - 99 * m1.ms)
        cached = await cache_of(redis).get_range(ex, "ETH-USD", m1)
        synthetic = [c for c in cached if c.is_synthetic]
        assert synthetic and all(c.volume == 0 and c.open == c.close for c in synthetic)
        times = [c.timestamp for c in cached]
        assert times == list(range(times[0], times[-1] + 1, m1.ms)) and times[-1] >= m1.floor(now) - m1.ms
        [r] = await env.service.scan(ex, ["ETH-USD"], [m1])
        assert r.reason == "ok"


async def test_clear_cache_is_refused_while_another_process_holds_the_lease(
    binance: Env, redis_server: RedisServer
) -> None:
    """A warmup started from the CLI in another process holds the lease: a clear would delete what
    it is writing, from a scan made before the clear. The lease, not this process's state, decides."""
    ex = binance.adapter.exchange_id
    await binance.service.run(ex, binance.symbols[:1], TFS)
    async with redis_client(redis_server.url) as other:  # another process's connection
        assert await other.set(warmup_lock_key(ex), "their-token", nx=True, px=5000)
        with pytest.raises(WarmupAlreadyRunning):
            await binance.service.clear_cache(ex)
        assert len([k async for k in binance.redis.scan_iter(match="candles:*")]) == len(TFS)
        await other.delete(warmup_lock_key(ex))
    assert (await binance.service.clear_cache(ex)).candles == len(TFS)
    assert not await binance.redis.exists(warmup_lock_key(ex))  # the clear let its lease go


async def test_a_dead_exchange_ends_the_run_at_once_as_unreachable(redis: Redis) -> None:
    """Nothing listens at the base URL: the symbol list cannot be had, so nothing is tried pair by
    pair; the run ends `exchange_unreachable`, never `complete` with 0 done."""
    settings = SETTINGS.model_copy(update={"max_retries": 1, "backoff_base_s": 0.01})
    adapter = adapter_for(settings, "binance", base_url=f"http://127.0.0.1:{free_port()}")
    try:
        report = await warmup_for(redis, adapter, settings).run(adapter.exchange_id, ["BTCUSDT", "ETHUSDT"], TFS)
    finally:
        await adapter.close()
    assert (report.status, report.outcome, report.completed_pairs) == ("error", "exchange_unreachable", 0)
    assert "nothing was fetched" in (report.message or "")
    assert adapter.metrics.retries == 1  # the symbol list was asked for once and retried once: no pair was tried


async def test_a_cancel_stops_within_one_request_and_says_what_is_left(binance: Env) -> None:
    """Every klines request hangs at the exchange: a cancel abandons the ones in flight at once
    (no timeout waited out, no retry), claims nothing more, and the stats say done and left."""
    binance.sim.set_faults(timeout_rate=1.0, timeout_s=20.0)
    arrived = int(binance.sim.stats()["requests"])
    stop = StopRequest()
    run = asyncio.create_task(binance.service.run(binance.adapter.exchange_id, binance.symbols, TFS, stop=stop))
    async with asyncio.timeout(10):
        while int(binance.sim.stats()["requests"]) - arrived < SETTINGS.max_in_flight:
            await asyncio.sleep(0.01)
    stop.request("cancelled", "cancelled by an operator")
    report = await run
    assert (report.outcome, report.completed_pairs, report.failed_pairs) == ("cancelled", 0, 0)
    assert report.message == "cancelled by an operator; 12 pairs left for the next run"
    assert report.retries == 0  # abandoned: no timeout waited out, no retry sent
    assert int(binance.sim.stats()["requests"]) - arrived == SETTINGS.max_in_flight


async def test_pairs_that_age_during_the_run_are_touched_up(binance: Env) -> None:
    """When the drain ends the market has moved on 10 minutes (the simulator's clock): the 1m and 5m
    pairs fetched early are stale again, so the run fetches them once more before it says complete."""
    moved: list[bool] = []
    at = binance.pin(Timeframe.H1.floor(binance.sim.now_ms()) + 10 * 60_000 + 30_000)  # 10.5 min into an hour

    def move_clock_at_the_end_of_the_drain(stats: WarmupStats) -> None:
        if stats.status == "fetching" and stats.total_pairs and stats.done_pairs == stats.total_pairs and not moved:
            binance.sim.set_clock(fixed_time_ms=at + 10 * 60_000)  # 1m and 5m go stale, the hour stays open
            moved.append(True)

    ex = binance.adapter.exchange_id
    report = await binance.service.run(ex, binance.symbols, TFS, on_progress=move_clock_at_the_end_of_the_drain)
    assert moved and (report.outcome, report.status) == ("complete", "complete")
    assert (report.touch_up_pairs, report.total_pairs, report.completed_pairs) == (8, 12 + 8, 12 + 8)
    assert [r.reason for r in await binance.service.scan(ex, binance.symbols, TFS)] == ["ok"] * 12
    await assert_complete_and_true(binance)


async def test_an_unfit_candle_is_never_written_and_its_pair_says_why(binance: Env) -> None:
    """A feed serving close 0: the original's reader would throw for the whole key, so nothing of
    that answer is written and each of the symbol's pairs is a failure naming the problem."""
    broken = binance.symbols[0]
    binance.sim.set_faults(zero_close=[broken])
    ex = binance.adapter.exchange_id
    report = await binance.service.run(ex, binance.symbols, TFS)
    assert (report.outcome, report.completed_pairs, report.failed_pairs) == ("failed", 9, 3)
    assert {f.symbol for f in report.failures} == {broken}
    assert all("close is 0" in f.error and "nothing of this answer was written" in f.error for f in report.failures)
    assert [k async for k in binance.redis.scan_iter(match=f"candles:{ex}:{broken}:*")] == []
