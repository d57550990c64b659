"""The monitored symbol set of an exchange, and the exchange's own list to validate additions against."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from redis.asyncio import Redis

from livermore.exchanges import ExchangeAdapter
from livermore.keys import monitored_symbols_key


def normalize_symbol(symbol: str) -> str:
    """Exchanges name symbols in upper case (`BTCUSDT`, `BTC-USD`); accept any case from operators."""
    return symbol.strip().upper()


class MonitoredSymbols:
    """A Redis set, so every process serving the exchange (and the original's services) sees one list."""

    def __init__(self, redis: Redis, exchange_id: int):
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
        self._fetched_at: float | None = None

    async def known(self) -> frozenset[str]:
        if self._fetched_at is None or self.clock() - self._fetched_at > self.ttl_s:
            self._symbols = frozenset(s.symbol for s in await self.adapter.list_symbols())  # tradable only
            self._fetched_at = self.clock()
        return self._symbols

    async def split(self, symbols: Iterable[str]) -> tuple[list[str], list[str]]:
        """(known, unknown), each in the given order without duplicates."""
        known = await self.known()
        wanted = list(dict.fromkeys(symbols))
        return [s for s in wanted if s in known], [s for s in wanted if s not in known]
