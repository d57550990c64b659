"""Candle storage in sorted sets, in the original's layout, with few round trips.

The sorted sets hold only real candles, as the exchange returned them (the original's indicators
treat every member as real). What the exchange confirmed beside them (up to when it answered,
which intervals had no trade, where a young pair's history starts) lives in the coverage ledger
(`candle_ledger_key`), written in the same transaction as the page it comes with.

A page (one key's candles) is the exchange's answer for the span from its first open time to its
last: it replaces every member in that span (the open candle cached mid-interval, an interval the
exchange no longer has). Every page is written in one transaction: one range delete of the span, one
ZADD of the page, then one script call that trims the key and updates its ledger entry (atomic: the
two never disagree); all pages of one call go in one round trip. The members go to Redis in a plain
ZADD, not through the script: a script's arguments become Lua strings, which cost Redis more CPU per
member than the ZADD itself. Many-key questions are answered by one script call per chunk of keys,
all chunks in one pipeline.

On a Redis Cluster a transaction or a script call touches one slot: each key's ledger entry then
lives in a hash of its own in the key's slot (`candle_ledger_cluster_key`), each page is its own
transaction (all sent at once), the scan's script runs once per key (a chunk is one key and its
entry), and a pipeline sends each node its calls in one batch, all nodes at once.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from hashlib import sha1
from importlib import resources
from itertools import groupby
from typing import Any, NamedTuple, cast

import orjson
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline
from redis.exceptions import NoScriptError

from livermore.connection import RedisClient, is_cluster
from livermore.keys import (
    candle_ledger_cluster_key,
    candle_ledger_key,
    exchange_candle_key,
    indicator_key,
    ticker_key,
)
from livermore.models import Candle, CandleColumns, Timeframe

_Call = tuple[str, list[str], list[int | bytes]]  # a script's name, its keys, its arguments
_Queue = Callable[[Pipeline | ClusterPipeline], None]  # puts commands on a pipeline


def _script(name: str) -> str:
    return resources.files("livermore.cache").joinpath("lua", name).read_text()


@dataclass(frozen=True, slots=True)
class Coverage:
    """What one answer of the exchange confirmed about one key, kept in the ledger beside its candles.

    :param asked_from: the first open time asked about: from there on the answer replaces what the
        ledger said before.
    :param answered_to: the newest open time the answer accounts for (a candle, or a confirmed
        silence); None when it vouches for nothing.
    :param fetched_at: when it was asked (ms): a candle of an interval still open then is partial.
    :param empty: open times in [asked_from, answered_to] the exchange confirmed had no trade.
    :param history_start: the pair's first candle, when the exchange has nothing older (a young pair).
    """

    symbol: str
    timeframe: Timeframe
    asked_from: int
    answered_to: int | None
    fetched_at: int
    empty: tuple[int, ...] = ()
    history_start: int | None = None

    def to_json(self) -> bytes:
        """The answer as the page script reads it."""
        doc = {
            "from": self.asked_from,
            "answeredTo": self.answered_to,
            "fetchedAt": self.fetched_at,
            "empty": list(self.empty),
            "historyStart": self.history_start,
        }
        return orjson.dumps({k: v for k, v in doc.items() if v is not None})


@dataclass(frozen=True, slots=True)
class PairWindow:
    """What one key holds and what its ledger entry says. `window_count` counts the intervals held
    or confirmed empty in the span the newest `depth` fill, ending at `covered_to`; `empty_count`
    is how many intervals the ledger confirms empty in all the key spans."""

    symbol: str
    timeframe: Timeframe
    cached_count: int
    newest_open_time: int | None
    window_count: int
    history_start: int | None = None
    empty_count: int = 0
    answered_to: int | None = None
    fetched_at: int | None = None

    @property
    def covered_to(self) -> int | None:
        """The newest open time accounted for: the newest candle, or a silence confirmed after it."""
        return max((t for t in (self.newest_open_time, self.answered_to) if t is not None), default=None)


class CandleCache:
    """Reads and writes candle sorted sets `candles:<exchangeId>:<symbol>:<timeframe>`."""

    def __init__(self, redis: RedisClient, *, max_candles: int, scan_chunk: int):
        """
        :param max_candles: each key is trimmed to its newest `max_candles` after a write.
        :param scan_chunk: how many keys one `windows` script call answers.
        """
        self.redis = redis
        self.max_candles = max_candles
        self.scan_chunk = scan_chunk
        self._scripts = {name: _script(name) for name in ("add_candles.lua", "pair_windows.lua")}
        self._sha = {name: sha1(text.encode()).hexdigest() for name, text in self._scripts.items()}
        self._cluster = is_cluster(redis)

    def ledger_of(self, exchange_id: int, candle_key: str) -> str:
        """The hash that holds `candle_key`'s ledger entry (field: the candle key): the exchange's
        one ledger, or on a cluster the entry's own hash in the candle key's slot."""
        if self._cluster:
            return candle_ledger_cluster_key(exchange_id, candle_key)
        return candle_ledger_key(exchange_id)

    async def add_candles(self, exchange_id: int, candles: Iterable[Candle], coverage: Iterable[Coverage] = ()) -> int:
        """Write candles (any keys), each key's page with what the exchange confirmed about it, in
        one round trip (a key with coverage but no candle included); returns how many candles were
        written. Of two candles with one open time, the later is written."""
        pages: dict[str, dict[int, Candle]] = defaultdict(dict)
        for c in candles:
            pages[exchange_candle_key(exchange_id, c.symbol, c.timeframe.value)][c.timestamp] = c
        answers = {exchange_candle_key(exchange_id, a.symbol, a.timeframe.value): a for a in coverage}
        writes = []
        for key in dict.fromkeys([*pages, *answers]):
            page = sorted(pages[key].items())
            writes.append(_Page(key, [t for t, _ in page], [c.to_member() for _, c in page], answers.get(key)))
        return await self._write(exchange_id, writes)

    async def add_columns(self, exchange_id: int, candles: CandleColumns, answer: Coverage) -> int:
        """Write one answer of the exchange as the adapters parse it, with what it confirmed: the
        warmup's way, whose members are built for the whole page at once; returns candles written."""
        key = exchange_candle_key(exchange_id, candles.symbol, candles.timeframe.value)
        return await self._write(exchange_id, [_Page(key, candles.timestamps, candles.members(), answer)])

    async def _write(self, exchange_id: int, pages: list[_Page]) -> int:
        """All pages in one transaction (on a cluster, one per page, sent at once): one round trip,
        and no reader sees a page without its ledger entry. A transaction is sent again after a
        NOSCRIPT (a server that lost its scripts): its range deletes and ZADDs had run, and run again
        to the same result; its script calls had not (until the retry, a reader may see those pages
        without their entries)."""
        if not pages:
            return 0
        batches = [[page] for page in pages] if self._cluster else [pages]
        await asyncio.gather(*(self._send(self._page_writes(exchange_id, b), transaction=True) for b in batches))
        return sum(len(page.members) for page in pages)

    def _page_writes(self, exchange_id: int, pages: list[_Page]) -> _Queue:
        def queue(pipe: Pipeline | ClusterPipeline) -> None:
            for page in pages:
                if page.members:
                    pipe.zremrangebyscore(page.key, page.timestamps[0], page.timestamps[-1])
                    pipe.execute_command("ZADD", page.key, *page.zadd_args())
                ledger = self.ledger_of(exchange_id, page.key)
                _evalsha(pipe, self._sha["add_candles.lua"], [page.key, ledger], page.script_args(self.max_candles))

        return queue

    async def _run_scripts(self, calls: list[_Call]) -> list[Any]:
        """EVALSHA every call in one pipeline. On one server a NOSCRIPT reply means no call ran; on
        a cluster, the calls of the nodes that knew the scripts did, and run twice: harmless, as a
        page written again is the same members at the same scores and the same ledger entry, and the
        other script only reads."""

        def queue(pipe: Pipeline | ClusterPipeline) -> None:
            for name, keys, args in calls:
                _evalsha(pipe, self._sha[name], keys, args)

        return await self._send(queue, transaction=False)

    async def _send(self, queue: _Queue, *, transaction: bool) -> list[Any]:
        """Queue commands on a pipeline and send them; after a server restart (NOSCRIPT) load the
        scripts (on every master, on a cluster) and send them again, once."""
        for attempt in (1, 2):
            async with self.redis.pipeline(transaction=transaction) as pipe:
                queue(pipe)
                try:
                    return await pipe.execute()
                except NoScriptError:
                    if attempt == 2:
                        raise
            for text in self._scripts.values():
                await self.redis.script_load(text)
        raise AssertionError("unreachable")

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
        """The newest cached candle that opened before `before_ms` (the seed for synthetic candles,
        when they are materialised)."""
        key = exchange_candle_key(exchange_id, symbol, timeframe.value)
        found = cast(list[bytes], await self.redis.zrevrangebyscore(key, f"({before_ms}", "-inf", start=0, num=1))
        return Candle.from_member(found[0]) if found else None

    async def windows(self, exchange_id: int, pairs: Sequence[tuple[str, Timeframe]], depth: int) -> list[PairWindow]:
        """Count, newest open time, newest-`depth` window count and ledger entry of every pair, in one
        round trip (one script call per run of up to `scan_chunk` pairs of one timeframe that share
        a ledger hash: on a cluster, one call per pair, each node's calls in one batch)."""
        if not pairs:
            return []
        calls = []
        for tf, run in groupby(pairs, key=lambda pair: pair[1]):
            keys = [exchange_candle_key(exchange_id, s, tf.value) for s, _ in run]
            for ledger, sharing in groupby(keys, key=lambda key: self.ledger_of(exchange_id, key)):
                batch = list(sharing)
                for i in range(0, len(batch), self.scan_chunk):
                    calls.append(("pair_windows.lua", [*batch[i : i + self.scan_chunk], ledger], [depth, tf.ms]))
        replies = await self._run_scripts(calls)
        flat = [int(x) for reply in replies for x in reply]
        rows = (flat[i : i + 7] for i in range(0, len(flat), 7))
        return [
            PairWindow(s, tf, count, _known(newest), window, _known(start), empty, _known(to), _known(at))
            for (s, tf), (count, newest, window, empty, to, at, start) in zip(pairs, rows, strict=True)
        ]

    async def clear_scope(
        self, exchange_id: int, symbol: str | None = None, timeframe: Timeframe | None = None
    ) -> Cleared:
        """Delete, by SCAN (never KEYS), what the original deletes for this scope: the candle keys
        and their ledger entries (`clear`), the `ticker:` key(s) (none for a timeframe scope: a
        ticker has no timeframe) and the `indicator:` keys. Only this exchange's keys of those
        shapes are touched."""
        candles = await self.clear(exchange_id, symbol, timeframe)
        tickers = await self._clear_tickers(exchange_id, symbol) if timeframe is None else 0
        indicators = await self._clear_indicators(exchange_id, symbol, timeframe)
        return Cleared(candles, tickers, indicators)

    async def clear(self, exchange_id: int, symbol: str | None = None, timeframe: Timeframe | None = None) -> int:
        """Delete candle keys by SCAN (never KEYS) and their ledger entries by HSCAN (a key the
        exchange confirmed empty has an entry but no sorted set); returns how many candle keys were
        deleted. A symbol is matched literally: glob characters in it (`*`, `?`, `[`) never widen
        what is deleted, and a `:` in it never reaches another symbol's keys (what follows the
        symbol must be a timeframe)."""
        pattern = exchange_candle_key(
            exchange_id, "*" if symbol is None else _glob_literal(symbol), timeframe.value if timeframe else "*"
        )
        prefix = exchange_candle_key(exchange_id, symbol or "", "")

        def mine(key: str) -> bool:  # candles:<id>:<symbol>:<timeframe>, the timeframe last
            return symbol is None or key[len(prefix) :] in _TIMEFRAMES

        deleted = await self._unlink_matching(pattern, mine)
        await self._clear_ledger(exchange_id, pattern, mine)
        return deleted

    async def _clear_ledger(self, exchange_id: int, pattern: str, mine: Callable[[str], bool]) -> None:
        """The ledger entries of the candle keys `pattern` and `mine` take: fields of the one hash,
        or on a cluster whole hashes, named by their candle key between the braces."""
        if self._cluster:
            start = len(candle_ledger_cluster_key(exchange_id, "")) - 1  # past "exchange:<id>:candle-ledger:{"
            named = candle_ledger_cluster_key(exchange_id, pattern)
            await self._unlink_matching(named, lambda name: mine(name[start:-1]))
            return
        ledger = candle_ledger_key(exchange_id)
        entries = self.redis.hscan_iter(ledger, match=pattern, count=_BATCH)
        async for batch in _batches(field async for field, _ in entries if mine(_text(field))):
            await self.redis.hdel(ledger, *batch)

    async def _clear_tickers(self, exchange_id: int, symbol: str | None) -> int:
        if symbol is not None:  # one exact name: nothing to match
            return int(await self.redis.unlink(ticker_key(exchange_id, symbol)))
        return await self._unlink_matching(ticker_key(exchange_id, "*"), lambda _: True)

    async def _clear_indicators(self, exchange_id: int, symbol: str | None, timeframe: Timeframe | None) -> int:
        """`indicator:<id>:<symbol>:<timeframe>[:...]`: a key's timeframe is the first segment after
        the symbol that names a timeframe; a symbol scope takes the keys whose symbol is exactly it."""
        lit = "*" if symbol is None else _glob_literal(symbol)
        prefix = indicator_key(exchange_id, "", "")[:-1]  # "indicator:<id>:"

        def mine(key: str) -> bool:
            rest = key[len(prefix) :]
            if symbol is not None:
                after = rest[len(symbol) + 1 :].split(":")[0]
                return after in _TIMEFRAMES and (timeframe is None or after == timeframe.value)
            return timeframe is None or _indicator_timeframe(rest) == timeframe.value

        return await self._unlink_matching(indicator_key(exchange_id, lit, "*"), mine)

    async def _unlink_matching(self, pattern: str, keep: Callable[[str], bool]) -> int:
        deleted = 0
        names = (name async for name in self.redis.scan_iter(match=pattern, count=_BATCH) if keep(_text(name)))
        async for batch in _batches(names):
            deleted += int(await self.redis.unlink(*batch))
        return deleted


@dataclass(frozen=True, slots=True)
class _Page:
    """One key's write: its candles' open times and members (ascending, one per open time), and
    what the exchange confirmed about the key (None: candles only)."""

    key: str
    timestamps: Sequence[int]
    members: list[bytes]
    answer: Coverage | None

    def zadd_args(self) -> list[bytes]:
        """score, member, score, member...: the scores as text, which redis-py sends as they are."""
        args = [b""] * (2 * len(self.members))
        args[0::2] = map(b"%d".__mod__, self.timestamps)
        args[1::2] = self.members
        return args

    def script_args(self, max_candles: int) -> tuple[int, int, bytes]:
        """The page script's arguments: the key's size limit, and the answer with its interval."""
        if self.answer is None:
            return max_candles, 0, b""
        return max_candles, self.answer.timeframe.ms, self.answer.to_json()


class Cleared(NamedTuple):
    """How many keys a clear deleted, by kind (ledger entries are not keys: not counted)."""

    candles: int
    tickers: int
    indicators: int

    @property
    def total(self) -> int:
        return sum(self)


_TIMEFRAMES = frozenset(tf.value for tf in Timeframe)


def _indicator_timeframe(rest: str) -> str | None:
    """The timeframe of `<symbol>:<timeframe>[:...]`: the first segment after the first that names one."""
    return next((seg for seg in rest.split(":")[1:] if seg in _TIMEFRAMES), None)


def _text(name: bytes | str) -> str:
    return name.decode() if isinstance(name, bytes) else name


def _glob_literal(text: str) -> str:
    """`text` as a SCAN MATCH pattern that matches only itself."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _known(value: int) -> int | None:
    """The scripts answer -1 for 'none'."""
    return None if value < 0 else value


_BATCH = 500  # names per SCAN/HSCAN step and per delete


async def _batches(names: AsyncIterator[bytes]) -> AsyncIterator[list[bytes]]:
    batch: list[bytes] = []
    async for name in names:
        batch.append(name)
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _evalsha(pipe: Pipeline | ClusterPipeline, sha: str, keys: list[str], args: Sequence[int | bytes]) -> None:
    """Not `pipe.evalsha`: redis-py's cluster pipeline refuses that method (made for scripts across
    slots), yet routes the command by its keys, one slot here."""
    pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)
