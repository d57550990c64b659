"""Binance spot REST adapter: klines paginated 1000 at a time, under the IP's REQUEST_WEIGHT budget."""

from __future__ import annotations

import asyncio
import time
from itertools import chain
from operator import itemgetter
from typing import Any

import httpx

from livermore.exchanges.base import RestAdapter, SymbolInfo, another_page, decimal_columns
from livermore.exchanges.http import ClientOptions
from livermore.exchanges.ratelimit import Clock, Grant, WeightLimiter, weight_terms
from livermore.exchanges.shared import SharedBudget, weight_limiter
from livermore.models import CandleColumns, Timeframe

CANDLES_PER_REQUEST = 1000  # candles per klines request (the API's maximum)
PUBLIC_WEIGHT_LIMIT, PUBLIC_WEIGHT_WINDOW_S = 6000, 60  # until exchangeInfo says otherwise
_WEIGHT_HEADER = "x-mbx-used-weight-"


def _is_unknown_symbol(response: httpx.Response) -> bool:
    if response.status_code != 400:
        return False
    try:
        return bool(response.json().get("code") == -1121)
    except ValueError:
        return False


_OPEN_TIME, _OHLCV = itemgetter(0), itemgetter(1, 2, 3, 4, 5)


def klines_columns(rows: list[list[Any]], symbol: str, timeframe: Timeframe) -> CandleColumns:
    """Klines rows (open time, then open, high, low, close and volume as decimal texts, then fields
    we do not keep) as columns."""
    return decimal_columns(
        symbol, timeframe, list(map(int, map(_OPEN_TIME, rows))), list(chain.from_iterable(map(_OHLCV, rows)))
    )


class BinanceAdapter(RestAdapter):
    """One process-wide Binance client. The limiter starts at the public default and follows
    exchangeInfo's terms before the first other request."""

    omits_quiet_intervals = False  # klines include zero-volume candles for intervals without trades

    def __init__(
        self,
        options: ClientOptions,
        *,
        base_url: str,
        exchange_id: int,
        name: str = "binance",
        client: httpx.AsyncClient | None = None,
        clock: Clock = time.time,
        budget: SharedBudget | None = None,
    ):
        """:param budget: the egress IP's budget in Redis, shared with the other processes on the IP;
        None limits in-process."""
        limiter = weight_limiter(
            budget, PUBLIC_WEIGHT_LIMIT, PUBLIC_WEIGHT_WINDOW_S, safety_margin=options.safety_margin, clock=clock
        )
        super().__init__(
            name,
            exchange_id,
            base_url,
            limiter,
            options,
            client,
            is_unknown_symbol=_is_unknown_symbol,
            on_response=self._observe_weight,
            clock=clock,
        )
        self.limiter: WeightLimiter = limiter
        self._budget = budget
        self._round_trip = (0.0, 0.0)  # the newest answer's: (granted, arrived), our clock
        self._info: dict[str, Any] | None = None
        self._info_lock = asyncio.Lock()

    def _observe_weight(self, response: httpx.Response, grant: Grant) -> None:
        """Every response reports the IP's used weight; other processes on the IP spend it too."""
        self._round_trip = (grant.at, self.limiter.clock())
        for key, value in response.headers.items():
            if key.startswith(_WEIGHT_HEADER) and value.isdigit():
                self.limiter.observe(int(value), grant)

    async def exchange_info(self) -> dict[str, Any]:
        """exchangeInfo (weight 20), fetched once; the limiter follows its terms: the weight limit,
        its window, and the exchange's clock, which the windows follow. Its serverTime was stamped
        before the answer arrived, so taking it as the clock at arrival puts ours behind the
        exchange's by at most the round trip: our windows turn as its do or just after, never
        before. (A turn before the exchange's would send into its full window: the answers' weight
        header would say the new window is spent, and hold us back for all of it.)

        With a shared budget, the terms another process of this host measured are followed before
        the request, so its weight is counted in the window the other processes fill: under the
        public default it would land unseen in a window they may already have spent."""
        async with self._info_lock:
            if self._info is None:
                if self._budget is not None and (known := await self._budget.terms()) is not None:
                    self.limiter.follow(known)
                info = await self._http.get_json("/api/v3/exchangeInfo", weight=20)
                measured = weight_terms(info["rateLimits"], *self._offset(info))
                self.limiter.follow(measured if self._budget is None else await self._budget.agree(measured))
                self._info = info
        return self._info

    def _offset(self, info: dict[str, Any]) -> tuple[float, float]:
        """The exchange's clock less ours, from the answer's serverTime, and how much further ahead
        it may be: serverTime was stamped between the request's grant and the answer's arrival
        (both kept as they are without one)."""
        server_ms = info.get("serverTime")
        if not isinstance(server_ms, int):
            return self.limiter.offset_s, self.limiter.terms.slack_s
        granted, arrived = self._round_trip
        return server_ms / 1000 - arrived, arrived - granted

    async def fetch_candles(
        self, symbol: str, timeframe: Timeframe, start_ms: int, end_ms: int | None = None
    ) -> CandleColumns:
        await self.exchange_info()
        rows: list[list[Any]] = []
        cursor = start_ms
        while end_ms is None or cursor <= end_ms:
            params: dict[str, Any] = {
                "symbol": symbol,
                "interval": timeframe.value,
                "startTime": cursor,
                "limit": CANDLES_PER_REQUEST,
            }
            if end_ms is not None:
                params["endTime"] = end_ms
            page = await self._http.get_json("/api/v3/klines", params, weight=2)
            rows += page
            if len(page) < CANDLES_PER_REQUEST:
                break
            cursor = int(page[-1][0]) + timeframe.ms
            if not another_page(timeframe, cursor, end_ms):
                break
        return klines_columns(rows, symbol, timeframe)

    async def list_symbols(self, quote: str | None = None) -> list[SymbolInfo]:
        info = await self.exchange_info()
        return [
            SymbolInfo(s["symbol"], s["baseAsset"], s["quoteAsset"], s["status"])
            for s in info["symbols"]
            if s["status"] == "TRADING" and (quote is None or s["quoteAsset"] == quote)
        ]

    async def top_symbols(self, n: int, quote: str) -> list[str]:
        wanted = {s.symbol for s in await self.list_symbols(quote)}
        tickers = await self._http.get_json("/api/v3/ticker/24hr", weight=80)
        ranked = sorted(
            (t for t in tickers if t["symbol"] in wanted), key=lambda t: float(t["quoteVolume"]), reverse=True
        )
        return [t["symbol"] for t in ranked[:n]]
