"""Candle storage in sorted sets, in the original's layout, with few round trips.

Every page write is one server-side script call per key (replace-by-open-time and trim, atomic),
and all pages of one call go in one pipeline: one round trip. Many-key questions are answered by
one script call per chunk of keys, all chunks in one pipeline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from hashlib import sha1
from importlib import resources
from itertools import groupby
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from livermore.keys import candle_history_key, exchange_candle_key
from livermore.models import Candle, Timeframe


def _script(name: str) -> str:
    return resources.files("livermore.cache").joinpath("lua", name).read_text()


@dataclass(frozen=True, slots=True)
class PairWindow:
    """What one key holds: `window_count` counts the candles in the span the newest `depth` would fill;
    `history_start` (only asked for keys holding fewer than `depth`) is the exchange's first candle."""

    symbol: str
    timeframe: Timeframe
    cached_count: int
    newest_open_time: int | None
    window_count: int
    history_start: int | None = None


class CandleCache:
    """Reads and writes candle sorted sets `candles:<exchangeId>:<symbol>:<timeframe>`."""

    def __init__(self, redis: Redis, *, max_candles: int, scan_chunk: int):
        """
        :param max_candles: each key is trimmed to its newest `max_candles` after a write.
        :param scan_chunk: how many keys one `windows` script call answers.
        """
        self.redis = redis
        self.max_candles = max_candles
        self.scan_chunk = scan_chunk
        self._scripts = {name: _script(name) for name in ("add_candles.lua", "pair_windows.lua")}
        self._sha = {name: sha1(text.encode()).hexdigest() for name, text in self._scripts.items()}

    async def add_candles(self, exchange_id: int, candles: Iterable[Candle]) -> int:
        """Write candles (any keys) in one round trip; returns how many were written."""
        by_key: dict[str, list[Candle]] = defaultdict(list)
        for c in candles:
            by_key[exchange_candle_key(exchange_id, c.symbol, c.timeframe.value)].append(c)
        if not by_key:
            return 0
        calls = []
        for key, page in by_key.items():
            args: list[int | bytes] = [self.max_candles]
            for c in page:
                args += (c.timestamp, c.to_member())
            calls.append(("add_candles.lua", [key], args))
        return int(sum(await self._run_scripts(calls)))

    async def _run_scripts(self, calls: list[tuple[str, list[str], list[int | bytes]]]) -> list[Any]:
        """EVALSHA every call in one pipeline; after a server restart (NOSCRIPT) load and retry once.

        A NOSCRIPT reply means that script did not run, so the retry cannot write twice.
        """
        for attempt in (1, 2):
            async with self.redis.pipeline(transaction=False) as pipe:
                for name, keys, args in calls:
                    pipe.evalsha(self._sha[name], len(keys), *keys, *args)
                try:
                    return await pipe.execute()
                except NoScriptError:
                    if attempt == 2:
                        raise
            for text in self._scripts.values():
                await self.redis.script_load(text)
        raise AssertionError("unreachable")

    async def set_history_start(self, exchange_id: int, symbol: str, timeframe: Timeframe, open_ms: int) -> None:
        """Record that the exchange has no candle of this pair before `open_ms`."""
        key = exchange_candle_key(exchange_id, symbol, timeframe.value)
        await self.redis.hset(candle_history_key(exchange_id), key, open_ms)

    async def count(self, exchange_id: int, symbol: str, timeframe: Timeframe) -> int:
        return int(await self.redis.zcard(exchange_candle_key(exchange_id, symbol, timeframe.value)))

    async def newest_open_time(self, exchange_id: int, symbol: str, timeframe: Timeframe) -> int | None:
        top = await self.redis.zrange(
            exchange_candle_key(exchange_id, symbol, timeframe.value), -1, -1, withscores=True
        )
        return int(top[0][1]) if top else None

    async def get_range(
        self, exchange_id: int, symbol: str, timeframe: Timeframe, start_ms: int = 0, end_ms: int | None = None
    ) -> list[Candle]:
        """Candles with open time in [start_ms, end_ms], ascending."""
        key = exchange_candle_key(exchange_id, symbol, timeframe.value)
        hi: int | str = "+inf" if end_ms is None else end_ms
        members = cast(list[bytes], await self.redis.zrangebyscore(key, start_ms, hi))  # no scores asked
        return [Candle.from_member(m) for m in members]

    async def last_before(self, exchange_id: int, symbol: str, timeframe: Timeframe, before_ms: int) -> Candle | None:
        """The newest cached candle that opened before `before_ms` (the seed for synthetic candles)."""
        key = exchange_candle_key(exchange_id, symbol, timeframe.value)
        found = cast(list[bytes], await self.redis.zrevrangebyscore(key, f"({before_ms}", "-inf", start=0, num=1))
        return Candle.from_member(found[0]) if found else None

    async def windows(self, exchange_id: int, pairs: Sequence[tuple[str, Timeframe]], depth: int) -> list[PairWindow]:
        """Count, newest open time and newest-`depth` window count of every pair, in one round trip
        (one script call per run of up to `scan_chunk` pairs of one timeframe)."""
        if not pairs:
            return []
        calls = []
        for tf, run in groupby(pairs, key=lambda pair: pair[1]):
            keys = [exchange_candle_key(exchange_id, s, tf.value) for s, _ in run]
            for i in range(0, len(keys), self.scan_chunk):
                chunk = [*keys[i : i + self.scan_chunk], candle_history_key(exchange_id)]
                calls.append(("pair_windows.lua", chunk, [depth, tf.ms]))
        replies = await self._run_scripts(calls)
        flat = [int(x) for reply in replies for x in reply]
        rows = (flat[i : i + 4] for i in range(0, len(flat), 4))
        return [
            PairWindow(s, tf, count, _known(newest), window, _known(start))
            for (s, tf), (count, newest, window, start) in zip(pairs, rows, strict=True)
        ]

    async def clear(self, exchange_id: int, symbol: str | None = None, timeframe: Timeframe | None = None) -> int:
        """Delete candle keys by SCAN (never KEYS); returns how many keys were deleted. A symbol is
        matched literally: glob characters in it (`*`, `?`, `[`) never widen what is deleted."""
        pattern = exchange_candle_key(
            exchange_id, "*" if symbol is None else _glob_literal(symbol), timeframe.value if timeframe else "*"
        )
        deleted = 0
        async for batch in _scan_batches(self.redis, pattern):
            deleted += int(await self.redis.unlink(*batch))
        return deleted


def _glob_literal(text: str) -> str:
    """`text` as a SCAN MATCH pattern that matches only itself."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _known(value: int) -> int | None:
    """The scripts answer -1 for 'none'."""
    return None if value < 0 else value


async def _scan_batches(redis: Redis, pattern: str, size: int = 500) -> AsyncIterator[list[bytes]]:
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=pattern, count=size):
        batch.append(key)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
