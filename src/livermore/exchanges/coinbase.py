"""Coinbase Advanced Trade public REST adapter: candles in windows of at most `CANDLES_PER_REQUEST` intervals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from itertools import chain
from operator import itemgetter
from typing import Any

import httpx

from livermore.exchanges.base import RestAdapter, SymbolInfo, another_page, decimal_columns
from livermore.exchanges.http import ClientOptions
from livermore.exchanges.ratelimit import Clock
from livermore.exchanges.shared import SharedBudget, token_bucket
from livermore.models import CandleColumns, Timeframe

CANDLES_PER_REQUEST = 350  # the API's maximum window, in intervals
PUBLIC_RATE_PER_S, PUBLIC_BURST = 10.0, 15  # public endpoints, per IP
PRODUCTS = "/api/v3/brokerage/market/products"
GRANULARITY = {
    Timeframe.M1: "ONE_MINUTE",
    Timeframe.M5: "FIVE_MINUTE",
    Timeframe.M15: "FIFTEEN_MINUTE",
    Timeframe.M30: "THIRTY_MINUTE",
    Timeframe.H1: "ONE_HOUR",
    Timeframe.H2: "TWO_HOUR",
    Timeframe.H4: "FOUR_HOUR",
    Timeframe.H6: "SIX_HOUR",
    Timeframe.D1: "ONE_DAY",
}


_OHLCV = itemgetter("open", "high", "low", "close", "volume")


def candle_columns(
    rows: Iterable[dict[str, Any]], symbol: str, timeframe: Timeframe, start_ms: int, end_ms: int
) -> CandleColumns:
    """Candle rows (each window's newest first; windows may overlap at their edges: the later row
    wins) as ascending columns of the open times in [start_ms, end_ms], one per open time."""
    by_open = {int(row["start"]) * 1000: row for row in rows}
    times = sorted(t for t in by_open if start_ms <= t <= end_ms)
    ohlcv = list(chain.from_iterable(map(_OHLCV, map(by_open.__getitem__, times))))
    return decimal_columns(symbol, timeframe, times, ohlcv)


def _is_unknown_product(response: httpx.Response) -> bool:
    if response.status_code == 404:
        return True
    return response.status_code == 400 and "product" in response.text.lower()


class CoinbaseAdapter(RestAdapter):
    """One process-wide Coinbase client under a token bucket (rate and burst less the safety margin)."""

    omits_quiet_intervals = True  # an interval without trades has no candle at all

    def __init__(
        self,
        options: ClientOptions,
        *,
        base_url: str,
        exchange_id: int,
        name: str = "coinbase",
        client: httpx.AsyncClient | None = None,
        rate_per_s: float = PUBLIC_RATE_PER_S,
        burst: int = PUBLIC_BURST,
        clock: Clock = time.time,
        budget: SharedBudget | None = None,
    ):
        """
        :param rate_per_s: requests per second (Coinbase's published public rate unless told).
        :param burst: requests the bucket holds when full.
        :param budget: the egress IP's budget in Redis, shared with the other processes on the IP;
            None limits in-process.
        """
        keep = 1 - options.safety_margin
        limiter = token_bucket(budget, rate_per_s * keep, max(1.0, burst * keep), clock=clock)
        super().__init__(
            name, exchange_id, base_url, limiter, options, client, is_unknown_symbol=_is_unknown_product, clock=clock
        )
        self._clock = clock
        self._offset_ms: int | None = None
        self._offset_lock = asyncio.Lock()

    async def server_now_ms(self) -> int:
        """The exchange's clock: its offset from ours is measured once (one request)."""
        async with self._offset_lock:
            if self._offset_ms is None:
                body = await self._http.get_json("/api/v3/brokerage/time")
                self._offset_ms = int(body["epochMillis"]) - int(self._clock() * 1000)
        return int(self._clock() * 1000) + self._offset_ms

    async def fetch_candles(
        self, symbol: str, timeframe: Timeframe, start_ms: int, end_ms: int | None = None
    ) -> CandleColumns:
        end = await self.server_now_ms() if end_ms is None else end_ms
        step_s = timeframe.ms // 1000
        start_s, stop_s = -(-start_ms // 1000), end // 1000 + 1  # the API's [start, end) in seconds
        rows: list[dict[str, Any]] = []
        while start_s < stop_s:
            window_end = min(start_s + CANDLES_PER_REQUEST * step_s, stop_s)
            params = {
                "start": str(start_s),
                "end": str(window_end),
                "granularity": GRANULARITY[timeframe],
                "limit": CANDLES_PER_REQUEST,
            }
            body = await self._http.get_json(f"{PRODUCTS}/{symbol}/candles", params)
            rows += body["candles"]
            start_s = window_end
            if not another_page(timeframe, start_s * 1000, end):
                break
        return candle_columns(rows, symbol, timeframe, start_ms, end)

    async def _products(self) -> list[dict[str, Any]]:
        body = await self._http.get_json(PRODUCTS)
        return [p for p in body["products"] if p["status"] == "online" and not p.get("trading_disabled")]

    async def list_symbols(self, quote: str | None = None) -> list[SymbolInfo]:
        return [
            SymbolInfo(p["product_id"], p["base_currency_id"], p["quote_currency_id"])
            for p in await self._products()
            if quote is None or p["quote_currency_id"] == quote
        ]

    async def top_symbols(self, n: int, quote: str) -> list[str]:
        """Ranked by 24h quote volume = volume_24h (base units) x price."""
        products = [p for p in await self._products() if p["quote_currency_id"] == quote]
        products.sort(key=lambda p: float(p["volume_24h"] or 0) * float(p["price"] or 0), reverse=True)
        return [p["product_id"] for p in products[:n]]
