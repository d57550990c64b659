from __future__ import annotations

from redis.asyncio import Redis

from livermore.keys import exchange_candle_key
from livermore.models import Candle, Timeframe
from tests.support.candles import cache_of

T0 = 1_700_000_100_000 - 1_700_000_100_000 % 300_000


def candle(i: int, close: float = 100.0, tf: Timeframe = Timeframe.M5, symbol: str = "BTC-USD") -> Candle:
    return Candle(T0 + i * tf.ms, close, close + 1, close - 1, close, 2.5, symbol, tf)


async def test_same_open_time_replaces(redis: Redis) -> None:
    cache = cache_of(redis)
    await cache.add_candles(1, [candle(0, 100), candle(1, 101)])
    await cache.add_candles(1, [candle(1, 105)])
    key = exchange_candle_key(1, "BTC-USD", "5m")
    assert await redis.zcard(key) == 2
    assert await redis.zcount(key, T0 + 300_000, T0 + 300_000) == 1
    got = await cache.get_range(1, "BTC-USD", Timeframe.M5, T0, T0 + 300_000)
    assert [c.close for c in got] == [100, 105]


async def test_trims_to_newest(redis: Redis) -> None:
    cache = cache_of(redis, max_candles=10)
    await cache.add_candles(1, [candle(i) for i in range(25)])
    assert await cache.count(1, "BTC-USD", Timeframe.M5) == 10
    assert await cache.newest_open_time(1, "BTC-USD", Timeframe.M5) == T0 + 24 * 300_000
    oldest = await cache.get_range(1, "BTC-USD", Timeframe.M5)
    assert oldest[0].timestamp == T0 + 15 * 300_000


async def test_page_is_one_round_trip_and_survives_script_flush(redis: Redis) -> None:
    cache = cache_of(redis)
    await redis.script_flush()
    assert await cache.add_candles(1, [candle(i) for i in range(5)] + [candle(0, tf=Timeframe.H1)]) == 6
    assert await cache.count(1, "BTC-USD", Timeframe.H1) == 1


async def test_windows_answers_many_pairs(redis: Redis) -> None:
    cache = cache_of(redis, scan_chunk=2)
    await cache.add_candles(1, [candle(i) for i in range(10) if i != 7])
    pairs = [("BTC-USD", Timeframe.M5), ("ETH-USD", Timeframe.M5), ("BTC-USD", Timeframe.H1)]
    w = await cache.windows(1, pairs, depth=5)
    assert (w[0].cached_count, w[0].newest_open_time, w[0].window_count) == (9, T0 + 9 * 300_000, 4)
    assert (w[1].cached_count, w[1].newest_open_time, w[1].window_count) == (0, None, 0)
    assert w[2].symbol == "BTC-USD" and w[2].timeframe is Timeframe.H1


async def test_clear_by_scope(redis: Redis) -> None:
    cache = cache_of(redis)
    await cache.add_candles(1, [candle(0), candle(0, symbol="ETH-USD"), candle(0, tf=Timeframe.H1)])
    await redis.set("unrelated", "x")
    assert await cache.clear(1, timeframe=Timeframe.M5) == 2
    assert await cache.clear(1, symbol="BTC-USD") == 1
    assert await redis.get("unrelated") == b"x"


async def test_clear_matches_the_symbol_literally(redis: Redis) -> None:
    """A symbol with glob characters (or an empty one) deletes its own keys, never its neighbours'."""
    cache = cache_of(redis)
    await cache.add_candles(1, [candle(0), candle(0, symbol="ETH-USD")])
    for symbol in ("*", "", "?TC-USD", "[BE]TC-USD", "BTC-US\\D"):
        assert await cache.clear(1, symbol=symbol) == 0
    assert await cache.clear(1, symbol="BTC-USD") == 1
    assert await redis.exists(exchange_candle_key(1, "ETH-USD", "5m")) == 1
