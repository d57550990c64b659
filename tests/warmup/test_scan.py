from __future__ import annotations

from dataclasses import replace

from redis.asyncio import Redis

from livermore.cache import Coverage
from livermore.connection import is_cluster
from livermore.embedded import RedisClusterServers, RedisServer
from livermore.models import Timeframe
from livermore.service import redis_client
from livermore.warmup import CandleStatusScanner
from tests.support.candles import NOW, TF, cache_of, reset_command_stats, script_calls, series


async def test_verdicts(redis: Redis) -> None:
    cache = cache_of(redis)
    await cache.add_candles(1, series("OK", 100))
    await cache.add_candles(1, series("LOW", 30))
    await cache.add_candles(1, series("STALE", 100, newest=TF.floor(NOW) - 2 * TF.ms))
    await cache.add_candles(1, series("HOLE", 100, skip=frozenset({10})))
    await cache.add_candles(1, series("OLDHOLE", 100, skip=frozenset({80})))
    await cache.add_candles(1, series("PREV", 100, newest=TF.floor(NOW) - TF.ms))
    symbols = ["OK", "LOW", "STALE", "HOLE", "OLDHOLE", "PREV", "EMPTY"]
    results = await CandleStatusScanner(cache, threshold=60, clock=lambda: NOW).scan(1, symbols, [TF])
    verdicts = {r.symbol: (r.reason, r.sufficient, r.cached_count) for r in results}
    assert verdicts == {
        "OK": ("ok", True, 100),
        "LOW": ("low_count", False, 30),
        "STALE": ("stale", False, 100),
        "HOLE": ("gap", False, 99),
        "OLDHOLE": ("ok", True, 99),  # the newest 60 are whole: enough
        "PREV": ("ok", True, 100),  # newest is the last closed interval: fresh
        "EMPTY": ("empty", False, 0),
    }
    ok = results[0]
    assert ok.newest_open_time == TF.floor(NOW)


async def test_order_is_largest_timeframe_first_then_symbols_as_given(redis: Redis) -> None:
    scanner = CandleStatusScanner(cache_of(redis), threshold=60, clock=lambda: NOW)
    results = await scanner.scan(1, ["B", "A"], [Timeframe.M1, Timeframe.D1, Timeframe.H1])
    assert [(r.timeframe.value, r.symbol) for r in results] == [
        ("1d", "B"),
        ("1d", "A"),
        ("1h", "B"),
        ("1h", "A"),
        ("1m", "B"),
        ("1m", "A"),
    ]


async def test_thousands_of_pairs_in_few_round_trips(redis: Redis) -> None:
    """The scan is a handful of commands whatever the pair count (Redis counts them for us)."""
    symbols = [f"S{i}" for i in range(1700)]
    tfs = [Timeframe.D1, Timeframe.H4, Timeframe.H1, Timeframe.M15, Timeframe.M5, Timeframe.M1]
    await reset_command_stats(redis)
    results = await CandleStatusScanner(cache_of(redis), threshold=60, clock=lambda: NOW).scan(1, symbols, tfs)
    assert len(results) == 10_200
    # per timeframe, ceil(1,700 / 1,000) script calls, all sent in one pipeline; on a cluster one
    # call per pair (a script reads one slot), each node's sent in one batch
    assert await script_calls(redis) == (10_200 if is_cluster(redis) else 12)


def answer(symbol: str, start: int, newest: int, empty: tuple[int, ...] = (), **kw: int | None) -> Coverage:
    """What an exchange confirmed, asked from `start` at NOW (unless told), accounting up to `newest`."""
    fetched_at = kw.pop("fetched_at", None) or NOW
    return Coverage(symbol, TF, start, newest, fetched_at, empty, **kw)


async def test_a_recent_listing_is_whole_once_its_history_start_is_known(redis: Redis) -> None:
    cache = cache_of(redis)
    await cache.add_candles(1, series("NEW", 30))
    await cache.add_candles(1, series("NEWHOLE", 30, skip=frozenset({5})))
    scanner = CandleStatusScanner(cache, threshold=60, clock=lambda: NOW)
    assert [r.reason for r in await scanner.scan(1, ["NEW"], [TF])] == ["low_count"]
    first, top = TF.floor(NOW) - 29 * TF.ms, TF.floor(NOW)
    await cache.add_candles(1, [], [answer(s, first, top, history_start=first) for s in ("NEW", "NEWHOLE")])
    verdicts = {r.symbol: r.reason for r in await scanner.scan(1, ["NEW", "NEWHOLE"], [TF])}
    assert verdicts == {"NEW": "ok", "NEWHOLE": "low_count"}


async def test_the_ledger_decides_with_the_candles_in_the_same_call(redis: Redis) -> None:
    """Confirmed-empty intervals fill the window and a confirmed silence keeps an illiquid pair fresh
    (Coinbase); a hole the exchange did not confirm is a gap, and a silence it did not confirm is
    stale (Binance); a newest candle fetched while its interval was open is partial."""
    cache = cache_of(redis)
    top = TF.floor(NOW)
    start = top - 99 * TF.ms
    last = top - 11 * TF.ms  # the newest candle of ILLIQUID and STOPPED
    quiet = tuple(last - i * TF.ms for i in (3, 17, 40))  # no trades there
    silence = tuple(top - i * TF.ms for i in range(1, 11))  # nor in the 10 closed intervals after `last`
    await cache.add_candles(1, series("ILLIQUID", 100, newest=last, skip=frozenset({3, 17, 40})))
    await cache.add_candles(1, [], [answer("ILLIQUID", start, top - TF.ms, (*quiet, *silence))])
    await cache.add_candles(1, series("HOLED", 100, skip=frozenset({3})), [answer("HOLED", start, top)])
    await cache.add_candles(1, series("STOPPED", 100, newest=last), [answer("STOPPED", start, last)])
    partial = answer("PARTIAL", start, top - TF.ms, fetched_at=top - TF.ms + 30_000)
    await cache.add_candles(1, series("PARTIAL", 100, newest=top - TF.ms), [partial])
    scanner = CandleStatusScanner(cache, threshold=60, clock=lambda: NOW)
    results = await scanner.scan(1, ["ILLIQUID", "HOLED", "STOPPED", "PARTIAL"], [TF])
    assert [(r.symbol, r.reason, r.covered_to) for r in results] == [
        ("ILLIQUID", "ok", top - TF.ms),
        ("HOLED", "gap", top),
        ("STOPPED", "stale", last),
        ("PARTIAL", "partial", top - TF.ms),
    ]


async def test_the_cluster_gives_the_standalone_verdicts(
    standalone_server: RedisServer, cluster_servers: RedisClusterServers
) -> None:
    """The same pages and answers written to one server and to the 3-master cluster (where a scan
    is one script call per pair, each reading the pair's own ledger hash): the same results, pair
    for pair, and every verdict among them."""
    top = TF.floor(NOW)
    pages = {
        "OK": (series("OK", 100), answer("OK", top - 99 * TF.ms, top, fetched_at=NOW + TF.ms)),
        "LOW": (series("LOW", 30), None),
        "STALE": (series("STALE", 100, newest=top - 3 * TF.ms), None),
        "GAP": (series("GAP", 100, skip=frozenset({4})), answer("GAP", top - 99 * TF.ms, top)),
        "QUIET": (
            series("QUIET", 100, skip=frozenset({4})),
            answer("QUIET", top - 99 * TF.ms, top, (top - 4 * TF.ms,)),
        ),
        "PARTIAL": (
            series("PARTIAL", 100, newest=top - TF.ms),
            answer("PARTIAL", top - 99 * TF.ms, top - TF.ms, fetched_at=top - 1),
        ),
    }
    symbols = [f"{name}{i}" for i in range(20) for name in (*pages, "EMPTY")]
    scans = []
    for server in (standalone_server, cluster_servers):
        async with redis_client(server.url) as redis:
            await redis.flushall()
            cache = cache_of(redis, scan_chunk=7)
            for i in range(20):
                for name, (candles, coverage) in pages.items():
                    renamed = [replace(c, symbol=f"{name}{i}") for c in candles]
                    answers = [replace(coverage, symbol=f"{name}{i}")] if coverage else []
                    await cache.add_candles(1, renamed, answers)
            scans.append(await CandleStatusScanner(cache, threshold=60, clock=lambda: NOW).scan(1, symbols, [TF]))
    standalone, cluster = scans
    assert cluster == standalone
    assert {r.reason for r in standalone} == {"ok", "low_count", "stale", "gap", "partial", "empty"}
