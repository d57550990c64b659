"""remove-symbol and clear-cache delete what the original deletes (candle keys and their ledger
entries, `ticker:<id>:<symbol>`, `indicator:<id>:<symbol>:<timeframe>[:...]`), by SCAN, and nothing
else: not another exchange's keys, not look-alike names, not another symbol's keys, whatever glob
characters or `:` the symbol holds."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from livermore.control.client import ControlClient
from livermore.keys import candle_ledger_key, exchange_candle_key, indicator_key, ticker_key
from livermore.warmup.symbols import MonitoredSymbols
from tests.control.shapes import assert_shape
from tests.support.control_world import World

# Each target symbol, with the symbols whose keys a careless pattern would also reach.
LOOKALIKES = {
    "A*B": ["AXB", "A*BC", "AB"],
    "A?C": ["ABC", "A?CD"],
    "[AB]C": ["AC", "BC", "[AB]CD"],
    "X:Y": ["X", "X:YZ", "X:Y:Z"],
    "X": ["X:Y", "XY"],
}


def symbol_keys(exchange_id: int, symbol: str) -> list[str]:
    """What the original deletes for a symbol: candles, ticker, indicators (with and without a suffix)."""
    return [
        exchange_candle_key(exchange_id, symbol, "1h"),
        exchange_candle_key(exchange_id, symbol, "5m"),
        ticker_key(exchange_id, symbol),
        indicator_key(exchange_id, symbol, "1h"),
        indicator_key(exchange_id, symbol, "5m") + ":macd-v",
    ]


def decoys(exchange_id: int, symbol: str) -> list[str]:
    """Names that must survive any clear of `exchange_id`: another exchange's keys and look-alike prefixes."""
    other = int(f"{exchange_id}{exchange_id}")  # 2 -> 22: `ticker:2:*` must not reach `ticker:22:...`
    return [
        *symbol_keys(other, symbol),
        f"tickers:{exchange_id}:{symbol}",
        f"xticker:{exchange_id}:{symbol}",
        f"indicators:{exchange_id}:{symbol}:1h",
        f"candle:{exchange_id}:{symbol}:1h",
        f"livermore:ticker:{exchange_id}:{symbol}",
    ]


async def seed(redis: Redis, keys: list[str]) -> None:
    for key in keys:
        if key.startswith("candles:"):
            await redis.zadd(key, {b"{}": 1})
        else:
            await redis.set(key, b"{}")


async def ledger(redis: Redis, exchange_id: int, candle_keys: list[str]) -> None:
    await redis.hset(candle_ledger_key(exchange_id), mapping={k: b"{}" for k in candle_keys})


async def names(redis: Redis) -> set[str]:
    return {k.decode() async for k in redis.scan_iter(match="*")}


async def ledger_fields(redis: Redis, exchange_id: int) -> set[str]:
    return {f.decode() for f in await redis.hkeys(candle_ledger_key(exchange_id))}


async def seed_world(redis: Redis, exchange_id: int, target: str) -> tuple[list[str], list[str]]:
    """The target's keys and every other name; ledger entries for every candle key of the exchange."""
    mine = symbol_keys(exchange_id, target)
    others = [k for s in LOOKALIKES[target] for k in symbol_keys(exchange_id, s)]
    others += [k for s in (target, *LOOKALIKES[target]) for k in decoys(exchange_id, s)]
    await seed(redis, mine + others)
    await ledger(redis, exchange_id, [k for k in mine + others if k.startswith(f"candles:{exchange_id}:")])
    other = int(f"{exchange_id}{exchange_id}")
    await ledger(redis, other, [exchange_candle_key(other, target, "1h")])
    return mine, others


@pytest.mark.parametrize("target", list(LOOKALIKES))
async def test_remove_symbol_deletes_its_keys_only(
    client: ControlClient, world: World, redis: Redis, target: str
) -> None:
    eid = world.exchange_id
    monitored = MonitoredSymbols(redis, eid)
    await monitored.add([target, *LOOKALIKES[target]])
    mine, _ = await seed_world(redis, eid, target)
    before, ledger_before = await names(redis), await ledger_fields(redis, eid)

    reply = await client.request("remove-symbol", {"symbol": target})
    assert reply.status == "success", reply
    assert_shape(reply.data, {"removed": True, "symbol": target, "deletedCount": len(mine)})
    assert await names(redis) == before - set(mine)
    assert await ledger_fields(redis, eid) == ledger_before - set(mine)
    assert await ledger_fields(redis, int(f"{eid}{eid}")) == {exchange_candle_key(int(f"{eid}{eid}"), target, "1h")}
    assert not await monitored.contains(target)
    assert all([await monitored.contains(s) for s in LOOKALIKES[target]])


@pytest.mark.parametrize("target", list(LOOKALIKES))
async def test_clear_cache_of_a_symbol_deletes_its_keys_only(
    client: ControlClient, world: World, redis: Redis, target: str
) -> None:
    eid = world.exchange_id
    mine, _ = await seed_world(redis, eid, target)
    before, ledger_before = await names(redis), await ledger_fields(redis, eid)

    reply = await client.request("clear-cache", {"scope": "symbol", "symbol": target})
    assert reply.status == "success", reply
    assert reply.data["deletedCount"] == len(mine)
    assert reply.data["deleted"] == {"candles": 2, "tickers": 1, "indicators": 2}
    assert await names(redis) == before - set(mine)
    assert await ledger_fields(redis, eid) == ledger_before - set(mine)


async def test_clear_cache_of_a_timeframe_deletes_its_candle_and_indicator_keys(
    client: ControlClient, world: World, redis: Redis
) -> None:
    """An indicator key's timeframe is the first segment after the symbol that names one:
    `indicator:<id>:S:1h:5m` is a 1h key (5m is its own suffix), kept by a 5m clear. Tickers have no
    timeframe: a timeframe clear keeps them."""
    eid = world.exchange_id
    mine, others = await seed_world(redis, eid, "X:Y")
    gone = [k for k in mine + others if k.startswith((f"candles:{eid}:", f"indicator:{eid}:")) and ":5m" in k]
    suffixed = indicator_key(eid, "S", "1h") + ":5m"
    await seed(redis, [suffixed, indicator_key(eid, "S", "15m"), exchange_candle_key(eid, "S", "15m")])
    before, ledger_before = await names(redis), await ledger_fields(redis, eid)

    reply = await client.request("clear-cache", {"scope": "timeframe", "timeframe": "5m"})
    assert reply.status == "success", reply
    assert reply.data["deleted"] == {"candles": 4, "tickers": 0, "indicators": 4}  # X:Y and its 3 look-alikes
    assert await names(redis) == before - set(gone)
    assert suffixed in await names(redis)
    assert await ledger_fields(redis, eid) == ledger_before - set(gone)


async def test_clear_cache_of_all_deletes_every_candle_ticker_and_indicator_key_of_the_exchange_only(
    client: ControlClient, world: World, redis: Redis
) -> None:
    eid = world.exchange_id
    mine, others = await seed_world(redis, eid, "A*B")
    ours = [k for k in mine + others if k.split(":")[:2] in (["candles", str(eid)], ["ticker", str(eid)])]
    ours += [k for k in mine + others if k.startswith(f"indicator:{eid}:")]
    before = await names(redis)

    reply = await client.request("clear-cache", {"scope": "all"})
    assert reply.status == "success", reply
    assert reply.data["deletedCount"] == len(ours) == 4 * 5
    assert await names(redis) == before - {*ours, candle_ledger_key(eid)}  # a hash emptied is gone
    assert await ledger_fields(redis, eid) == set()
    assert await MonitoredSymbols(redis, eid).all() == world.symbols  # not a cache key
