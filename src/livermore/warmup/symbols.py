"""The monitored symbol set of an exchange, and the exchange's own list to validate additions against."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from livermore.connection import RedisClient
from livermore.exchanges import ExchangeAdapter
from livermore.keys import monitored_symbols_key


def normalize_symbol(symbol: str) -> str:
    """Exchanges name symbols in upper case (`BTCUSDT`, `BTC-USD`); accept any case from operators."""
    return symbol.strip().upper()


class MonitoredSymbols:
    """A Redis set, so every process serving the exchange (and the original's services) sees one list."""

    def __init__(self, redis: RedisClient, exchange_id: int):
        self.redis = redis
        self.key = monitored_symbols_key(exchange_id)

    async def all(self) -> list[str]:
        """Sorted, so runs and pages list symbols in a stable order."""
        return sorted(m.decode() if isinstance(m, bytes) else m for m in await self.redis.smembers(self.key))

    async def contains(self, symbol: str) -> bool:
        return bool(await self.redis.sismember(self.key, symbol))

    async def add(self, symbols: Iterable[str]) -> list[str]:
        """Add; returns the symbols that were not monitored before."""
        wanted = list(dict.fromkeys(symbols))
        if not wanted:
            return []
        flags = await self.redis.smismember(self.key, wanted)
        fresh = [s for s, present in zip(wanted, flags, strict=True) if not present]
        if fresh:
            await self.redis.sadd(self.key, *fresh)
        return fresh

    async def remove(self, symbol: str) -> bool:
        return bool(await self.redis.srem(self.key, symbol))

    async def seed(self, symbols: Iterable[str]) -> bool:
        """Fill the set only when it is empty: an operator's later edits survive restarts."""
        wanted = list(dict.fromkeys(symbols))
        if not wanted or await self.redis.scard(self.key):
            return False
        await self.redis.sadd(self.key, *wanted)
        return True


class SymbolCatalog:
    """The exchange's tradable symbols, fetched at most once per `ttl_s` (Binance's list is heavy)."""

    def __init__(self, adapter: ExchangeAdapter, *, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        self.adapter = adapter
        self.ttl_s = ttl_s
        self.clock = clock
        self._symbols: frozenset[str] = frozenset()
        self._loose: dict[str, str] = {}
        self._fetched_at: float | None = None

    async def known(self) -> frozenset[str]:
        """The tradable symbols; raises ExchangeError when the exchange cannot be asked."""
        if self._fetched_at is None or self.clock() - self._fetched_at > self.ttl_s:
            self._symbols = frozenset(s.symbol for s in await self.adapter.list_symbols())  # tradable only
            self._loose = loose_index(self._symbols)
            self._fetched_at = self.clock()
        return self._symbols

    async def split(self, symbols: Iterable[str]) -> tuple[list[str], list[str]]:
        """(known, unknown), each in the given order without duplicates. A known symbol is given in
        the exchange's own form where the operator's is unambiguous (`btcusdt`, `BTC-USDT` on Binance
        -> `BTCUSDT`; `btc-usd` on Coinbase -> `BTC-USD`); an unknown one is kept as given."""
        known = await self.known()
        resolved: dict[str, None] = {}
        unknown: dict[str, None] = {}
        for symbol in symbols:
            found = symbol if symbol in known else self._loose.get(_loose(symbol))
            if found is None:
                unknown[symbol] = None
            else:
                resolved[found] = None
        return list(resolved), list(unknown)


def _loose(symbol: str) -> str:
    return "".join(c for c in symbol.upper() if c.isalnum())


def loose_index(symbols: Iterable[str]) -> dict[str, str]:
    """Loose spelling (upper case, letters and digits only) -> the exchange's symbol, for spellings
    that name exactly one symbol."""
    index: dict[str, str | None] = {}
    for symbol in symbols:
        key = _loose(symbol)
        index[key] = None if key in index else symbol
    return {k: v for k, v in index.items() if v is not None}
