"""PairFetcher asks for no page beyond the last closed interval: a fetch whose last page came back
exactly full ends there (counted in the simulator's log), and the pair is whole all the same."""

from __future__ import annotations

from redis.asyncio import Redis

from livermore.models import Timeframe
from livermore.service import warmup_for
from livermore.simulator import Simulator, SimulatorConfig
from livermore.warmup.fetch import PairFetcher, last_closed
from tests.support.candles import cache_of
from tests.support.warmup_world import SETTINGS, Env, make_env

M1 = Timeframe.M1


def requests(sim: Simulator, path_end: str) -> int:
    return sum(r.path.endswith(path_end) and r.status == 200 for r in sim.log)


async def test_a_deep_backfill_whose_last_page_is_full_sends_no_empty_request(binance: Env, redis: Redis) -> None:
    """2000 intervals up to the open one: two full pages, the second ending at the open interval.
    A third request, from after it, could only come back empty."""
    now = binance.pin()
    settings = SETTINGS.model_copy(update={"default_candle_target": 2000, "max_candles": 2000})
    service = warmup_for(redis, binance.adapter, settings, clock=binance.sim.now_ms)
    symbols = binance.symbols[:2]
    report = await service.backfill(binance.adapter.exchange_id, symbols, [M1])
    assert (report.outcome, report.completed_pairs) == ("complete", 2)
    assert requests(binance.sim, "/klines") == 2 * 2
    cached = await cache_of(redis).get_range(binance.adapter.exchange_id, symbols[0], M1)
    assert len(cached) == 2000 and cached[-1].timestamp == M1.floor(now)  # the open candle came with its page


async def test_no_page_is_asked_for_the_open_interval_alone(binance: Env, redis: Redis) -> None:
    """2000 closed intervals and the open one: two full pages reach the last closed interval; the
    open one is not worth a request of its own (its candle would be fetched again once closed)."""
    now = binance.pin()
    ex, symbol = binance.adapter.exchange_id, binance.symbols[0]
    fetch = PairFetcher(binance.adapter, cache_of(redis, max_candles=2000), ex, binance.sim.now_ms)
    assert await fetch(symbol, M1, M1.floor(now) - 2000 * M1.ms) == 2000
    assert requests(binance.sim, "/klines") == 2
    assert await cache_of(redis).newest_open_time(ex, symbol, M1) == last_closed(M1, now)
    [verdict] = await binance.service.scan(ex, [symbol], [M1])
    assert verdict.reason == "ok"


async def test_coinbase_asks_no_window_for_the_open_interval_alone(redis: Redis) -> None:
    """700 closed intervals and the open one: two windows of 350 reach the last closed interval."""
    async for env in make_env(redis, SimulatorConfig(exchange="coinbase", symbols=2), "coinbase"):
        now = env.pin()
        ex, symbol = env.adapter.exchange_id, env.symbols[0]
        start = M1.floor(now) - 700 * M1.ms
        assert await PairFetcher(env.adapter, cache_of(redis), ex, env.sim.now_ms)(symbol, M1, start) == 700
        assert requests(env.sim, "/candles") == 2
        cached = await cache_of(redis).get_range(ex, symbol, M1)
        assert cached == env.sim.candles(symbol, M1, start, last_closed(M1, now))
