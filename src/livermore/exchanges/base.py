"""The one small interface the warmup needs from an exchange, and the base every adapter shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx

from livermore.exchanges.http import AdapterMetrics, ClientOptions, RestClient
from livermore.exchanges.ratelimit import Clock, Grant, Limiter
from livermore.models import Candle, Timeframe


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """A tradable symbol as the exchange names it (Binance `BTCUSDT`, Coinbase `BTC-USD`)."""

    symbol: str
    base: str
    quote: str
    status: str = "TRADING"


class ExchangeAdapter(Protocol):
    """A REST client for one exchange, rate-limited, counted, shared by every caller in the process."""

    name: str
    exchange_id: int
    metrics: AdapterMetrics
    # How the exchange reports an interval without trades: True when it returns no candle for it
    # (Coinbase), so an interval it answered for without a candle is confirmed empty; False when it
    # returns a zero-volume candle (Binance), so a missing interval is an outage, to fetch again.
    omits_quiet_intervals: bool

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


class RestAdapter:
    """What every adapter shares: its name and id, its counters, its limiter, and one RestClient.

    A subclass supplies the per-exchange parts (limiter, unknown-symbol rule, answer hook) and
    the wire format; the HTTP discipline (pauses, retries, bans) is the same for all.
    """

    def __init__(
        self,
        name: str,
        exchange_id: int,
        base_url: str,
        limiter: Limiter,
        options: ClientOptions,
        client: httpx.AsyncClient | None,
        *,
        is_unknown_symbol: Callable[[httpx.Response], bool],
        on_response: Callable[[httpx.Response, Grant], None] | None = None,
        clock: Clock,
    ):
        """
        :param client: an httpx client to share; None makes one that `close` closes.
        :param clock: epoch seconds; tests move it.
        """
        self.name = name
        self.exchange_id = exchange_id
        self.metrics = AdapterMetrics()
        self.limiter = limiter
        self._http = RestClient(
            name,
            client,
            base_url,
            limiter,
            self.metrics,
            options,
            is_unknown_symbol=is_unknown_symbol,
            on_response=on_response,
            clock=clock,
        )

    async def close(self) -> None:
        await self._http.aclose()
