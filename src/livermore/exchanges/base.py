"""The one small interface the warmup needs from an exchange, its errors and its counters."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

from livermore.models import Candle, Timeframe


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """A tradable symbol as the exchange names it (Binance `BTCUSDT`, Coinbase `BTC-USD`)."""

    symbol: str
    base: str
    quote: str
    status: str = "TRADING"


@dataclass(slots=True)
class AdapterMetrics:
    """What an adapter did; the executor reports these figures."""

    requests: int = 0
    weight_used: int = 0
    throttled: int = 0  # 429s received
    banned: int = 0  # 418s received
    retries: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class ExchangeError(Exception):
    """An exchange request failed for good (after whatever retries were due)."""


class UnknownSymbolError(ExchangeError):
    """The exchange does not know this symbol (Binance -1121, Coinbase 404/400): never retried."""


class ExchangeBannedError(ExchangeError):
    """The exchange answered 418 (IP ban) or still bans us; nothing is sent until `until_s` (epoch s)."""

    def __init__(self, message: str, until_s: float):
        super().__init__(message)
        self.until_s = until_s


class ExchangeAdapter(Protocol):
    """A REST client for one exchange, rate-limited, counted, shared by every caller in the process."""

    name: str
    exchange_id: int
    metrics: AdapterMetrics

    async def fetch_candles(
        self, symbol: str, timeframe: Timeframe, start_ms: int, end_ms: int | None = None
    ) -> list[Candle]:
        """Every candle the exchange has with open time in [start_ms, end_ms] (end: now), ascending,
        without duplicates, paginated internally. The current interval's (open) candle is included
        when the exchange returns it. Raises UnknownSymbolError, ExchangeBannedError or ExchangeError."""
        ...

    async def list_symbols(self, quote: str | None = None) -> list[SymbolInfo]: ...

    async def top_symbols(self, n: int, quote: str) -> list[str]:
        """The `n` symbols quoted in `quote` with the largest 24h quote volume, largest first."""
        ...

    async def close(self) -> None: ...
