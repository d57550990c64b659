"""Candle series and a cache built the way the service builds one (defaults from Settings)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from redis.asyncio.cluster import RedisCluster

from livermore.cache import CandleCache
from livermore.config import Settings
from livermore.connection import RedisClient, is_cluster
from livermore.keys import exchange_candle_key
from livermore.models import Candle, CandleColumns, Timeframe, now_ms
from livermore.service import candle_cache

NOW = 1_750_000_000_000
TF = Timeframe.M5


def cache_of(redis: RedisClient, **overrides: int) -> CandleCache:
    """A CandleCache with Settings' defaults, or with the given ones."""
    return candle_cache(redis, Settings().model_copy(update=overrides))


async def ledger_entry_of(redis: RedisClient, exchange_id: int, symbol: str, tf: Timeframe) -> dict[str, Any] | None:
    """The pair's coverage ledger entry, wherever the cache keeps it (None when it has none)."""
    key = exchange_candle_key(exchange_id, symbol, tf.value)
    raw = await redis.hget(cache_of(redis).ledger_of(exchange_id, key), key)
    return None if raw is None else dict(orjson.loads(raw))


def _every_master(redis: RedisClient) -> dict[str, Any]:
    """A server command's target: on a cluster every master, not the client's default node."""
    return {"target_nodes": RedisCluster.PRIMARIES} if is_cluster(redis) else {}


async def reset_command_stats(redis: RedisClient) -> None:
    await redis.config_resetstat(**_every_master(redis))


async def command_calls(redis: RedisClient) -> dict[str, int]:
    """Calls per command since `reset_command_stats`, on every master together."""
    info = await redis.info("commandstats", **_every_master(redis))
    calls: dict[str, int] = {}
    for stats in info.values() if is_cluster(redis) else [info]:
        for name, value in stats.items():
            if name.startswith("cmdstat_"):
                calls[name.removeprefix("cmdstat_")] = calls.get(name.removeprefix("cmdstat_"), 0) + value["calls"]
    return calls


async def script_calls(redis: RedisClient) -> int:
    """EVAL and EVALSHA calls since `reset_command_stats`, on every master together."""
    calls = await command_calls(redis)
    return calls.get("evalsha", 0) + calls.get("eval", 0)


def series(
    symbol: str, n: int, *, newest: int | None = None, skip: frozenset[int] = frozenset(), tf: Timeframe = TF
) -> list[Candle]:
    """n candles ending at `newest` (default: the current open interval), minus the indices in `skip`."""
    top = tf.floor(NOW) if newest is None else newest
    return [Candle(top - i * tf.ms, 10.0, 11.0, 9.0, 10.5, 1.0, symbol, tf) for i in range(n) if i not in skip]


def columns_of(candles: list[Candle]) -> CandleColumns:
    """The same candles (of one key, ascending) as the adapters hand them to the warmup."""
    first = candles[0]
    return CandleColumns(
        first.symbol,
        first.timeframe,
        [c.timestamp for c in candles],
        [c.open for c in candles],
        [c.high for c in candles],
        [c.low for c in candles],
        [c.close for c in candles],
        [c.volume for c in candles],
    )


async def clear_of_interval_end(tf: Timeframe, margin_s: float) -> None:
    """If the wall clock's current `tf` interval ends within `margin_s`, wait for the next one: a
    test on wall time whose runs must see no `tf` interval close (a candle fetched while its
    interval was open is `partial` once it has closed, and fetched again) then has `margin_s`."""
    left_ms = tf.floor(now_ms()) + tf.ms - now_ms()
    if left_ms < margin_s * 1000:
        await asyncio.sleep(left_ms / 1000)


async def duplicate_scores(redis: RedisClient) -> int:
    """Members beyond the first of each open time, over every candle key."""
    extra = 0
    async for key in redis.scan_iter(match="candles:*"):
        scores = [score for _, score in await redis.zrange(key, 0, -1, withscores=True)]
        extra += len(scores) - len(set(scores))
    return extra
