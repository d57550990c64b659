"""What one machine spends to drive several IPs, beside baselines, side by side in one run.

Each section of bench/results/scale.json is measured by one function of `SECTIONS`; a new section is
one more entry there.

per_candle, on 1000-candle answers of the simulator's pinned market (all intervals closed):
- client_us: client CPU (time.process_time) per candle of PairFetcher's way from the exchange's
  decoded rows to Redis: parse, fitness check, coverage, members, the page transaction's packing,
  send and reply (Binance klines rows; coinbase_client_us: Coinbase candle rows, three windows).
  ccxt_client_us: ccxt's parse of the same Binance rows, alone (`parse_ohlcvs`). Each the least of five
  rounds, as the Redis figures are the least of seven.
- redis_us: Redis's own CPU per candle written (INFO commandstats: the usec of the commands of the
  page transaction, `PAGE_COMMANDS`), 1000-candle pages into empty keys, beside
  plain_zadd_redis_us: one plain ZADD of the same members per page into empty keys. redis_cpu_us
  and plain_zadd_redis_cpu_us: the server's whole CPU (INFO cpu) for the same writes.
- wasted_requests: candle requests sent beyond the pages needed to reach the last closed interval,
  counted in the simulator's log, in deep backfills whose last page is exactly full (Binance: 2000
  candles a pair, the open one included: two full pages; Coinbase: 700 closed intervals and the
  open one: two windows of 350).

reclaim (bench/workers.py): three `livermore worker` processes drain one schedule, one is killed
with SIGKILL mid-run: entries taken over, the run complete, duplicate scores in Redis.

cluster_scan (bench/cluster_scan.py): the scanner on a local 3-master Redis Cluster vs one
redis-server, 10,002 pairs, the same verdicts.

one_ip, ccxt_one_ip, speedup (bench/ips.py): four warmups sharing one IP's budget (the simulator's
per-IP windows: share of the limit used, windows over it, 429s, 418s) beside four ccxt bots on one
IP; one, two and four workers on their own IPs draining one schedule (t1 / tN).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import ccxt
import httpx
from redis.asyncio import Redis

from cluster_scan import cluster_scan
from ips import ccxt_one_ip, one_ip, speedup
from livermore.cache import Coverage
from livermore.config import Settings
from livermore.embedded import RedisServer
from livermore.exchanges.binance import klines_columns
from livermore.exchanges.coinbase import CANDLES_PER_REQUEST, GRANULARITY, PRODUCTS, candle_columns
from livermore.keys import exchange_candle_key
from livermore.models import CandleColumns, Timeframe
from livermore.service import adapter_for, candle_cache, warmup_for
from livermore.simulator import SimulatorConfig, serve_simulator
from livermore.warmup.fetch import PairFetcher, coverage
from workers import reclaim

NOW = 1_750_000_000_000  # the simulator's market clock, pinned
M1 = Timeframe.M1
PAGE = 1000
START = M1.floor(NOW) - PAGE * M1.ms  # the measured answers: the newest 1000 closed intervals
SETTINGS = Settings(max_candles=10_000)


async def klines_rows(base_url: str) -> list[Any]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        params = {"symbol": "BTCUSDT", "interval": "1m", "startTime": START, "limit": PAGE}
        return list((await client.get("/api/v3/klines", params=params)).json())


async def coinbase_rows(base_url: str) -> list[Any]:
    """1000 candles' rows in windows of at most 350, as the adapter asks for them."""
    rows: list[Any] = []
    async with httpx.AsyncClient(base_url=base_url) as client:
        for start in range(START, START + PAGE * M1.ms, CANDLES_PER_REQUEST * M1.ms):
            end = min(start + CANDLES_PER_REQUEST * M1.ms, START + PAGE * M1.ms)
            params = {"start": start // 1000, "end": end // 1000, "granularity": GRANULARITY[M1]}
            rows += (await client.get(f"{PRODUCTS}/BTC-USD/candles", params=params)).json()["candles"]
    return rows


class Replay:
    """An adapter answering every fetch with the same rows, parsed as its exchange's adapter
    parses them: PairFetcher's cost from decoded rows on, without the HTTP."""

    def __init__(self, parse: Callable[[], CandleColumns], *, omits_quiet_intervals: bool):
        self.parse = parse
        self.omits_quiet_intervals = omits_quiet_intervals

    async def fetch_candles(self, symbol: str, tf: Timeframe, start_ms: int, end_ms: int | None = None) -> Any:
        return self.parse()


ROUNDS = 5  # CPU figures are the least of this many rounds: the least disturbed by whatever else runs


async def least_cpu_us(page: Callable[[], Awaitable[None]], reps: int = 20) -> float:
    """CPU time per candle of `page` (one 1000-candle page's work): the least of ROUNDS rounds."""
    rounds = []
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(reps):
            await page()
        rounds.append(time.process_time() - started)
    return min(rounds) / reps / PAGE * 1e6


async def client_us(redis: Redis, adapter: Replay, symbol: str) -> float:
    fetch = PairFetcher(adapter, candle_cache(redis, SETTINGS), 1, clock=lambda: NOW)  # type: ignore[arg-type]
    await fetch(symbol, M1, START)  # loads the script, warms the connection

    async def page() -> None:
        assert await fetch(symbol, M1, START) == PAGE

    return await least_cpu_us(page)


async def ccxt_client_us(rows: list[Any]) -> float:
    exchange = ccxt.binance()

    async def page() -> None:
        assert len(exchange.parse_ohlcvs(rows)) == PAGE

    return await least_cpu_us(page)


# What a page's transaction runs, each timed by Redis as it times a plain ZADD: the command alone,
# without reading and freeing its arguments (EXEC's own usec adds the freeing of the arguments it
# ran with, which a plain ZADD's usec leaves out; the server's CPU below counts it on both sides).
PAGE_COMMANDS = ("multi", "zremrangebyscore", "zadd", "evalsha")


async def redis_cost(
    redis: Redis, commands: tuple[str, ...], write: Callable[[], Awaitable[int]]
) -> tuple[float, float]:
    """Redis's usec in `commands` (INFO commandstats) and the server's CPU (INFO cpu: parsing,
    freeing, everything), per candle, while `write` writes pages into empty keys."""
    await redis.flushdb()
    await redis.config_resetstat()
    cpu = await redis.info("cpu")
    candles = await write()
    stats, after = await redis.info("commandstats"), await redis.info("cpu")
    usec = sum(stats[f"cmdstat_{name}"]["usec"] for name in commands)
    server_s = sum(after[k] - cpu[k] for k in ("used_cpu_user", "used_cpu_sys"))
    return usec / candles, server_s * 1e6 / candles


async def redis_us(redis: Redis, rows: list[Any], pages: int = 40, rounds: int = 7) -> dict[str, float]:
    """Ours (the page transaction) and a plain ZADD of the same members, per candle written: the
    least of `rounds` runs of each figure."""
    cache = candle_cache(redis, SETTINGS)
    answers = [klines_columns(rows, f"S{i}USDT", M1) for i in range(pages)]
    await cache.add_columns(1, answers[0], answer_of(answers[0]))  # loads the script

    async def ours() -> int:
        return sum([await cache.add_columns(1, columns, answer_of(columns)) for columns in answers])

    async def plain() -> int:
        for columns in answers:
            scores = map(b"%d".__mod__, columns.timestamps)
            args = [x for pair in zip(scores, columns.members(), strict=True) for x in pair]
            await redis.execute_command("ZADD", exchange_candle_key(1, columns.symbol, M1.value), *args)
        return pages * PAGE

    runs = [
        (*await redis_cost(redis, PAGE_COMMANDS, ours), *await redis_cost(redis, ("zadd",), plain))
        for _ in range(rounds)
    ]
    names = ("redis_us", "redis_cpu_us", "plain_zadd_redis_us", "plain_zadd_redis_cpu_us")
    return {name: min(run[i] for run in runs) for i, name in enumerate(names)}


def answer_of(columns: CandleColumns) -> Coverage:
    return coverage(columns.timestamps, columns.symbol, M1, START, NOW, omits_quiet=False)


async def deep_backfill(redis: Redis, exchange: str, target: int, page: int) -> tuple[int, int]:
    """Requests for candles sent, and pages needed to reach the last closed interval (the open one
    comes with the last page when it fits), in a backfill of `target` candles a pair (open included)."""
    config = SimulatorConfig(exchange=exchange, symbols=5, fixed_time_ms=NOW)  # type: ignore[arg-type]
    settings = SETTINGS.model_copy(update={"default_candle_target": target})
    async with serve_simulator(config) as running:
        adapter = adapter_for(settings, exchange, base_url=running.base_url)
        try:
            symbols = [s.symbol for s in await adapter.list_symbols()]
            service = warmup_for(redis, adapter, settings, clock=running.simulator.now_ms)
            report = await service.backfill(adapter.exchange_id, symbols, [M1])
        finally:
            await adapter.close()
    assert report.outcome == "complete", report.to_dict()
    sent = sum(r.path.endswith(("/klines", "/candles")) for r in running.simulator.log)
    return sent, len(symbols) * math.ceil((target - 1) / page)


async def answers_rows() -> tuple[list[Any], list[Any]]:
    """The newest 1000 closed intervals' rows, as Binance and as Coinbase send them."""
    config = SimulatorConfig(exchange="binance", symbols=1, fixed_time_ms=NOW)
    async with (
        serve_simulator(config) as binance,
        serve_simulator(config.model_copy(update={"exchange": "coinbase"})) as coinbase,
    ):
        return await klines_rows(binance.base_url), await coinbase_rows(coinbase.base_url)


async def per_candle() -> dict[str, Any]:
    binance_rows, coinbase_rows_ = await answers_rows()
    binance = Replay(lambda: klines_columns(binance_rows, "BTCUSDT", M1), omits_quiet_intervals=False)
    coinbase = Replay(lambda: candle_columns(coinbase_rows_, "BTC-USD", M1, START, NOW), omits_quiet_intervals=True)
    with RedisServer() as server:
        async with Redis.from_url(server.url) as redis:
            ours = await client_us(redis, binance, "BTCUSDT")
            ours_coinbase = await client_us(redis, coinbase, "BTC-USD")
            written = await redis_us(redis, binance_rows)
            await redis.flushdb()
            binance_sent, binance_needed = await deep_backfill(redis, "binance", 2 * PAGE, PAGE)
            coinbase_sent, coinbase_needed = await deep_backfill(redis, "coinbase", 701, CANDLES_PER_REQUEST)
    ccxt_us = await ccxt_client_us(binance_rows)
    wasted = binance_sent - binance_needed + coinbase_sent - coinbase_needed
    ours_redis, plain_redis = written["redis_us"], written["plain_zadd_redis_us"]
    ours_cpu, plain_cpu = written["redis_cpu_us"], written["plain_zadd_redis_cpu_us"]
    print(
        f"scale per_candle: client {ours:.2f} us/candle (Coinbase rows {ours_coinbase:.2f}), ccxt's parse alone "
        f"{ccxt_us:.2f} -> {ccxt_us / ours:.2f}x | Redis {ours_redis:.3f} us per candle written, plain ZADD "
        f"{plain_redis:.3f} -> {ours_redis / plain_redis:.2f}x (server CPU {ours_cpu:.3f} vs {plain_cpu:.3f} -> "
        f"{ours_cpu / plain_cpu:.2f}x) | wasted requests {wasted} (sent {binance_sent} + {coinbase_sent} for "
        f"{binance_needed} + {coinbase_needed} pages needed, Binance + Coinbase)"
    )
    return {
        "client_us": round(ours, 2),
        "coinbase_client_us": round(ours_coinbase, 2),
        "ccxt_client_us": round(ccxt_us, 2),
        **{name: round(us, 3) for name, us in written.items()},
        "wasted_requests": wasted,
    }


SECTIONS: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
    "per_candle": per_candle,
    "reclaim": reclaim,
    "cluster_scan": cluster_scan,
    "one_ip": one_ip,
    "ccxt_one_ip": ccxt_one_ip,
    "speedup": speedup,
}


def main() -> dict[str, Any]:
    return {name: asyncio.run(measure()) for name, measure in SECTIONS.items()}


if __name__ == "__main__":
    main()
