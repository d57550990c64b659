"""The one small interface the warmup needs from an exchange, and the base every adapter shares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from livermore.exchanges.http import AdapterMetrics, ClientOptions, RestClient
from livermore.exchanges.ratelimit import Clock, Grant, Limiter
from livermore.models import CandleColumns, Timeframe


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
    ) -> CandleColumns:
        """Every candle the exchange has with open time in [start_ms, end_ms] (end: now), ascending,
        without duplicates, paginated internally. The current interval's (open) candle is included
        when a page brings it, but no page is asked for it alone (`another_page`). Raises
        UnknownSymbolError, ExchangeBannedError or ExchangeError."""
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


def another_page(tf: Timeframe, start_ms: int, end_ms: int | None) -> bool:
    """Whether a page after the first, starting at `start_ms`, is worth a request: only if it can
    hold an interval that had closed at `end_ms` (the time asked for). A page of the open interval
    alone would bring a half-formed candle, fetched again once it closes, and one after it nothing:
    a deep fetch whose last page came back exactly full used to send one of those per pair. Without
    `end_ms` the exchange's now is not known here: the page is asked for."""
    return end_ms is None or start_ms < tf.floor(end_ms)


def parse_decimals(texts: Sequence[Any]) -> list[float]:
    """`[float(x) for x in texts]` for the exchanges' decimal texts ("70735.44000000"), about four
    times faster: orjson reads them all as one JSON array. Each text gets an exponent (`e0`), so it
    reads as exactly one float or not at all; anything else (NaN, a number sent as such, a text
    holding a comma) fails the parse or the count and takes float()'s own way, error included."""
    try:
        values: list[float] = orjson.loads("[" + "e0,".join(texts) + "e0]")
        if len(values) == len(texts):
            return values
    except (TypeError, orjson.JSONDecodeError):
        pass
    return [float(x) for x in texts]


def decimal_columns(symbol: str, timeframe: Timeframe, timestamps: list[int], ohlcv: Sequence[Any]) -> CandleColumns:
    """Columns from open times and the decimal texts of each candle's open, high, low, close and
    volume in turn."""
    values = parse_decimals(ohlcv)
    return CandleColumns(symbol, timeframe, timestamps, *(values[i::5] for i in range(5)))
