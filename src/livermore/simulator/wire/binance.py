"""Binance spot REST wire format for the simulator: endpoints, weights, error bodies, weight header."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from livermore.models import Candle, Timeframe
from livermore.simulator.limits import Verdict
from livermore.simulator.market import decimal_str
from livermore.simulator.state import Simulator

_WEIGHTS = {
    "/api/v3/ping": 1,
    "/api/v3/time": 1,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/klines": 2,
    "/api/v3/ticker/24hr": 2,  # 80 without `symbol`
}
_INTERVAL_NAMES = (("DAY", 86400, "D"), ("HOUR", 3600, "H"), ("MINUTE", 60, "M"), ("SECOND", 1, "S"))


def _json(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(doc), status, headers, media_type="application/json;charset=UTF-8")


def _error(status: int, code: int, msg: str) -> Response:
    return _json({"code": code, "msg": msg}, status)


def window_interval(window_s: float) -> tuple[str, int, str]:
    """A window length as Binance names it: (interval, intervalNum, header letter); 6 s -> SECOND 6 S."""
    seconds = int(window_s)
    for name, unit, letter in _INTERVAL_NAMES:
        if seconds % unit == 0:
            return name, seconds // unit, letter
    raise AssertionError("unreachable: SECOND divides everything")


def _f8(x: float) -> str:
    return decimal_str(x, 8)


class BinanceWire:
    """Binance's public market-data endpoints over a Simulator."""

    def __init__(self, sim: Simulator):
        self.sim = sim
        self._interval, self._interval_num, letter = window_interval(sim.config.window_s)
        self._header = f"X-MBX-USED-WEIGHT-{self._interval_num}{letter}"

    def weight(self, request: Request) -> int | None:
        """The request's weight, or None for a path Binance does not have."""
        path = request.url.path
        if path == "/api/v3/ticker/24hr" and "symbol" not in request.query_params:
            return 80
        return _WEIGHTS.get(path)

    def symbol_of(self, request: Request) -> str | None:
        return request.query_params.get("symbol")

    def decorate(self, response: Response, used_weight: int) -> Response:
        response.headers[self._header] = str(used_weight)
        return response

    def not_found(self) -> Response:
        return Response(b"", 404)

    def rejected(self, verdict: Verdict) -> Response:
        if verdict.status == 418:
            until = int((self.sim.exchange_s() + verdict.retry_after) * 1000)
            msg = (
                f"Way too much request weight used; IP banned until {until}. "
                "Please use WebSocket Streams for live updates to avoid bans."
            )
        else:
            limit = self.sim.config.weight_limit
            msg = (
                f"Too much request weight used; current limit is {limit} request weight per "
                f"{self._interval_num} {self._interval}. "
                "Please use WebSocket Streams for live updates to avoid polling the API."
            )
        return _json({"code": -1003, "msg": msg}, verdict.status, {"Retry-After": str(verdict.retry_after)})

    def server_error(self, status: int) -> Response:
        if status >= 500:
            return _error(status, -1000, "An unknown error occurred while processing the request.")
        return _error(status, -1121, "Invalid symbol.")

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        q = request.query_params
        if path == "/api/v3/ping":
            return _json({})
        if path == "/api/v3/time":
            return _json({"serverTime": self._server_time()})
        if path == "/api/v3/exchangeInfo":
            return _json(self._exchange_info())
        symbol = q.get("symbol")
        if symbol is not None and symbol not in self.sim.listings:
            return _error(400, -1121, "Invalid symbol.")
        if path == "/api/v3/ticker/24hr":
            symbols = [symbol] if symbol else list(self.sim.listings)
            tickers = [self._ticker(s) for s in symbols]
            return _json(tickers[0] if symbol else tickers)
        return self._klines(q)

    def _klines(self, q: Any) -> Response:
        symbol = q.get("symbol")
        if not symbol:
            return _error(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        try:
            tf = Timeframe(q.get("interval", ""))
        except ValueError:
            return _error(400, -1120, "Invalid interval.")
        try:
            limit = min(int(q.get("limit", 500)), 1000)
            start = int(q["startTime"]) if "startTime" in q else None
            end = int(q["endTime"]) if "endTime" in q else self.sim.now_ms()
        except ValueError:
            return _error(400, -1100, "Illegal characters found in a parameter.")
        if limit < 1:
            return _error(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '1-1000'.")
        base = self.sim.listings[symbol].base
        if start is None:  # the most recent `limit` klines up to endTime
            candles = self.sim.candles(symbol, tf, tf.floor(end) - (limit - 1) * tf.ms, end)
        else:  # the first `limit` klines from startTime (or from the listing, if later)
            start = max(-(-start // tf.ms) * tf.ms, self.sim.market.first_open(base, tf))
            candles = self.sim.candles(symbol, tf, start, min(end, start + (limit - 1) * tf.ms))
        return _json([self._row(base, c) for c in candles])

    def _row(self, base: str, c: Candle) -> list[Any]:
        quote_volume = c.volume * (c.open + c.close) / 2
        taker = 0.5 + 0.1 * ((c.timestamp // c.timeframe.ms) % 7 - 3) / 3
        return [
            c.timestamp,
            _f8(c.open),
            _f8(c.high),
            _f8(c.low),
            _f8(c.close),
            _f8(c.volume),
            c.timestamp + c.timeframe.ms - 1,
            _f8(quote_volume),
            self.sim.market.trades(base, c.timeframe, c),
            _f8(c.volume * taker),
            _f8(quote_volume * taker),
            "0",
        ]

    def _ticker(self, symbol: str) -> dict[str, Any]:
        listing = self.sim.listings[symbol]
        asset = self.sim.market.asset(listing.base)
        now = self.sim.now_ms()
        d = self.sim.market.day_stats(listing.base, now)
        tick = 10**-asset.price_decimals
        avg = d.quote_volume / d.volume if d.volume else d.last
        return {
            "symbol": symbol,
            "priceChange": _f8(d.last - d.open),
            "priceChangePercent": f"{(d.last - d.open) / d.open * 100:.3f}",
            "weightedAvgPrice": _f8(asset.round_price(avg)),
            "prevClosePrice": _f8(d.open),
            "lastPrice": _f8(d.last),
            "lastQty": _f8(asset.round_qty(1000 / d.last)),
            "bidPrice": _f8(asset.round_price(d.last - tick)),
            "bidQty": _f8(asset.round_qty(5000 / d.last)),
            "askPrice": _f8(d.last),
            "askQty": _f8(asset.round_qty(4000 / d.last)),
            "openPrice": _f8(d.open),
            "highPrice": _f8(d.high),
            "lowPrice": _f8(d.low),
            "volume": _f8(d.volume),
            "quoteVolume": _f8(d.quote_volume),
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": 1_000_000,
            "lastId": 1_000_000 + int(d.quote_volume // 1000),
            "count": int(d.quote_volume // 1000) + 1,
        }

    def _server_time(self) -> int:
        """The exchange's clock, which its weight windows follow, in ms."""
        return int(self.sim.exchange_s() * 1000)

    def _exchange_info(self) -> dict[str, Any]:
        cfg = self.sim.config
        return {
            "timezone": "UTC",
            "serverTime": self._server_time(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": self._interval,
                    "intervalNum": self._interval_num,
                    "limit": cfg.weight_limit,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            ],
            "exchangeFilters": [],
            "symbols": [self._symbol_info(s) for s in self.sim.listings],
        }

    def _symbol_info(self, symbol: str) -> dict[str, Any]:
        listing = self.sim.listings[symbol]
        asset = self.sim.market.asset(listing.base)
        tick = _f8(10**-asset.price_decimals)
        step = _f8(10**-asset.qty_decimals)
        return {
            "symbol": symbol,
            "status": "TRADING",
            "baseAsset": listing.base,
            "baseAssetPrecision": 8,
            "quoteAsset": listing.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00000000", "tickSize": tick},
                {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000000.00000000", "stepSize": step},
                {
                    "filterType": "NOTIONAL",
                    "minNotional": "5.00000000",
                    "applyMinToMarket": True,
                    "maxNotional": "9000000.00000000",
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }
