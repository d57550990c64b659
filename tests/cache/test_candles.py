from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from livermore.cache import Coverage
from livermore.keys import exchange_candle_key
from livermore.models import Candle, Timeframe
from tests.support.candles import (
    cache_of,
    columns_of,
    command_calls,
    ledger_entry_of,
    reset_command_stats,
    script_calls,
)

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


async def test_a_real_candle_replaces_an_old_synthetic_member(redis: Redis) -> None:
    """Caches written before the ledger hold synthetic members: the real candle takes their place."""
    cache = cache_of(redis)
    await cache.add_candles(1, [candle(0), candle(0).synthetic_next(T0 + 300_000)])
    await cache.add_candles(1, [candle(1, 104)])
    assert await cache.get_range(1, "BTC-USD", Timeframe.M5) == [candle(0), candle(1, 104)]


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
    answers = [Coverage(s, Timeframe.M5, T0, T0, 1) for s in ("BTC-USD", "ETH-USD")]
    await cache.add_candles(1, [candle(0), candle(0, symbol="ETH-USD")], answers)
    for symbol in ("*", "", "?TC-USD", "[BE]TC-USD", "BTC-US\\D"):
        assert await cache.clear(1, symbol=symbol) == 0
    assert await entry(redis) is not None
    assert await cache.clear(1, symbol="BTC-USD") == 1
    assert await redis.exists(exchange_candle_key(1, "ETH-USD", "5m")) == 1
    assert (await entry(redis), await entry(redis, "ETH-USD") is not None) == (None, True)


def covered(i: int, to: int, at: int, empty: tuple[int, ...] = (), **kw: int) -> Coverage:
    """An answer asked from interval `i` (5m, BTC-USD), accounting up to interval `to`, at `at` ms."""
    return Coverage("BTC-USD", Timeframe.M5, T0 + i * 300_000, T0 + to * 300_000, at, empty, **kw)


async def entry(redis: Redis, symbol: str = "BTC-USD", tf: Timeframe = Timeframe.M5) -> dict[str, Any] | None:
    return await ledger_entry_of(redis, 1, symbol, tf)


async def test_a_page_and_its_ledger_entry_are_one_script_call(redis: Redis) -> None:
    cache = cache_of(redis)
    await cache.add_candles(1, [])  # loads nothing, asks nothing
    await reset_command_stats(redis)
    answer = covered(0, 3, T0 + 1000, empty=(T0 + 300_000,), history_start=T0)
    assert await cache.add_candles(1, [candle(0), candle(2), candle(3)], [answer]) == 3
    assert await script_calls(redis) == 1
    assert await entry(redis) == {
        "answeredTo": T0 + 900_000,
        "fetchedAt": T0 + 1000,
        "empty": [T0 + 300_000],
        "historyStart": T0,
    }
    assert await cache.count(1, "BTC-USD", Timeframe.M5) == 3  # the empty interval is no member


async def test_a_later_answer_replaces_the_ledger_from_where_it_was_asked(redis: Redis) -> None:
    """Older empties stay; from the answer's start on, the answer is the truth; an interval that
    holds a member is not empty; a history start is kept."""
    cache = cache_of(redis)
    step = 300_000
    await cache.add_candles(1, [candle(0), candle(3)], [covered(0, 3, 1, empty=(T0 + step, T0 + 2 * step))])
    await cache.add_candles(1, [candle(2), candle(5)], [covered(2, 5, 2, empty=(T0 + 4 * step,))])
    assert await entry(redis) == {"answeredTo": T0 + 5 * step, "fetchedAt": 2, "empty": [T0 + step, T0 + 4 * step]}
    await cache.add_candles(1, [candle(4, close=7.0)], [covered(5, 6, 3)])  # a real candle where one was empty
    assert await entry(redis) == {"answeredTo": T0 + 6 * step, "fetchedAt": 3, "empty": [T0 + step]}


async def test_a_history_start_is_recorded_only_where_nothing_older_is_held(redis: Redis) -> None:
    cache = cache_of(redis)
    await cache.add_candles(1, [candle(0), candle(1)])
    await cache.add_candles(1, [candle(5)], [covered(3, 5, 1, history_start=T0 + 5 * 300_000)])  # a hole, not a start
    assert "historyStart" not in (await entry(redis) or {})


async def test_empties_are_trimmed_to_the_span_the_key_holds(redis: Redis) -> None:
    """Once the key is full, intervals older than its oldest candle were trimmed away: their
    empties go too; and never more than `max_candles` intervals back from the coverage."""
    cache = cache_of(redis, max_candles=4)
    step = 300_000
    await cache.add_candles(1, [candle(1), candle(3)], [covered(0, 4, 1, empty=(T0, T0 + 2 * step, T0 + 4 * step))])
    assert (await entry(redis) or {})["empty"] == [T0 + 2 * step, T0 + 4 * step]  # T0: beyond 4 intervals back
    await cache.add_candles(1, [candle(5), candle(6), candle(7)], [covered(5, 7, 2)])
    assert await cache.count(1, "BTC-USD", Timeframe.M5) == 4  # 3, 5, 6, 7
    assert (await entry(redis) or {})["empty"] == [T0 + 4 * step]


async def test_windows_count_confirmed_empty_intervals_and_report_the_ledger(redis: Redis) -> None:
    cache = cache_of(redis)
    step = 300_000
    # held: 0, 2, 3; confirmed empty: 1, and 4..6 after the newest candle
    silence = (T0 + step, T0 + 4 * step, T0 + 5 * step, T0 + 6 * step)
    await cache.add_candles(1, [candle(0), candle(2), candle(3)], [covered(0, 6, 42, empty=silence)])
    [w] = await cache.windows(1, [("BTC-USD", Timeframe.M5)], depth=5)
    assert (w.cached_count, w.newest_open_time, w.window_count, w.empty_count) == (3, T0 + 3 * step, 5, 4)
    assert (w.answered_to, w.fetched_at, w.history_start, w.covered_to) == (T0 + 6 * step, 42, None, T0 + 6 * step)


PAIRS = [("BTC-USD", Timeframe.M5), ("ETH-USD", Timeframe.M5), ("BTC-USD", Timeframe.H1)]


async def test_clear_removes_ledger_entries_with_their_keys(redis: Redis) -> None:
    """A key the exchange confirmed empty throughout has an entry but no sorted set: it goes too."""
    cache = cache_of(redis)
    await cache.add_candles(1, [candle(0)], [covered(0, 0, 1)])
    await cache.add_candles(1, [], [Coverage("ETH-USD", Timeframe.M5, T0, T0, 1, (T0,))])
    await cache.add_candles(1, [candle(0, tf=Timeframe.H1)], [Coverage("BTC-USD", Timeframe.H1, T0, T0, 1)])
    assert not await redis.exists(exchange_candle_key(1, "ETH-USD", "5m"))
    assert await cache.clear(1, timeframe=Timeframe.M5) == 1
    assert [await entry(redis, s, tf) is None for s, tf in PAIRS] == [True, True, False]
    assert await cache.clear(1, symbol="BTC-USD") == 1
    assert [await entry(redis, s, tf) for s, tf in PAIRS] == [None, None, None]
    assert [k async for k in redis.scan_iter()] == []  # nothing left of the ledger either


async def test_a_page_replaces_every_member_in_its_span(redis: Redis) -> None:
    """A page is the exchange's answer from its first open time to its last: a member it lacks in
    that span goes (here interval 3, e.g. a synthetic member), members outside stay."""
    cache = cache_of(redis)
    await cache.add_candles(1, [candle(i, 100 + i) for i in range(6)])
    await cache.add_candles(1, [candle(1, 201), candle(2, 202), candle(4, 204)])
    got = await cache.get_range(1, "BTC-USD", Timeframe.M5)
    assert [(c.timestamp - T0) // 300_000 for c in got] == [0, 1, 2, 4, 5]
    assert [c.close for c in got] == [100, 201, 202, 204, 105]


async def test_of_two_candles_with_one_open_time_in_one_call_the_later_is_kept(redis: Redis) -> None:
    cache = cache_of(redis)
    assert await cache.add_candles(1, [candle(1, 100), candle(0), candle(1, 105)]) == 2
    assert [c.close for c in await cache.get_range(1, "BTC-USD", Timeframe.M5)] == [100, 105]


async def test_a_page_is_one_range_delete_one_zadd_and_one_script_call_in_one_transaction(redis: Redis) -> None:
    cache = cache_of(redis)
    await cache.add_candles(1, [candle(0)], [covered(0, 0, 1)])  # loads the script
    await reset_command_stats(redis)
    assert await cache.add_candles(1, [candle(i) for i in range(500)], [covered(0, 499, 2)]) == 500
    calls = await command_calls(redis)
    calls.pop("config|resetstat", None)
    assert calls == {
        "multi": 1,
        "zremrangebyscore": 1,
        "zadd": 1,
        "evalsha": 1,
        "exec": 1,
        "zcard": 1,
        "hget": 1,
        "hset": 1,
    }
    assert (await entry(redis) or {})["answeredTo"] == T0 + 499 * 300_000


async def test_a_page_sent_after_a_script_flush_still_gets_its_ledger_entry(redis: Redis) -> None:
    """The transaction's range delete and ZADD run before its script call answers NOSCRIPT: all of it
    is sent again once the script is loaded, to the same members and the ledger entry."""
    cache = cache_of(redis)
    await cache.add_candles(1, [candle(0)], [covered(0, 0, 1)])
    await redis.script_flush()
    assert await cache.add_candles(1, [candle(0, 99), candle(1)], [covered(0, 1, 2)]) == 2
    assert [c.close for c in await cache.get_range(1, "BTC-USD", Timeframe.M5)] == [99, 100]
    assert await entry(redis) == {"answeredTo": T0 + 300_000, "fetchedAt": 2}


async def test_columns_are_written_as_the_same_candles_would_be(redis: Redis) -> None:
    """The warmup's way (columns, members built for the page at once) writes what `add_candles`
    writes, to the byte, with the same ledger entry."""
    cache = cache_of(redis)
    memecoin = [0.00000999, 0.00002, 0.000005, 0.00001, 1e16]  # numbers orjson alone writes with an exponent
    candles = [Candle(T0 + i * 300_000, *memecoin, "PEPE-USD", Timeframe.M5) for i in range(3)]
    candles += [candle(i, 50_000.0 + i / 8, symbol="PEPE-USD") for i in range(3, 300)]
    answer = Coverage("PEPE-USD", Timeframe.M5, T0, T0 + 299 * 300_000, 7)
    columns = columns_of(candles)
    assert await cache.add_columns(1, columns, answer) == await cache.add_candles(2, candles, [answer]) == 300
    by_columns = await redis.zrange(exchange_candle_key(1, "PEPE-USD", "5m"), 0, -1, withscores=True)
    by_candles = await redis.zrange(exchange_candle_key(2, "PEPE-USD", "5m"), 0, -1, withscores=True)
    assert by_columns == by_candles and len(by_columns) == 300
    assert await ledger_entry_of(redis, 1, "PEPE-USD", Timeframe.M5) == await ledger_entry_of(
        redis, 2, "PEPE-USD", Timeframe.M5
    )
