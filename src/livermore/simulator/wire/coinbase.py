"""Coinbase Advanced Trade public market-data wire format for the simulator."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from livermore.models import Timeframe
from livermore.simulator.limits import Verdict
from livermore.simulator.market import decimal_str
from livermore.simulator.state import Simulator

PRODUCTS = "/api/v3/brokerage/market/products"
TIME = "/api/v3/brokerage/time"
MAX_CANDLES = 350
GRANULARITY = {
    "ONE_MINUTE": Timeframe.M1,
    "FIVE_MINUTE": Timeframe.M5,
    "FIFTEEN_MINUTE": Timeframe.M15,
    "THIRTY_MINUTE": Timeframe.M30,
    "ONE_HOUR": Timeframe.H1,
    "TWO_HOUR": Timeframe.H2,
    "FOUR_HOUR": Timeframe.H4,
    "SIX_HOUR": Timeframe.H6,
    "ONE_DAY": Timeframe.D1,
}


def _json(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(doc), status, headers, media_type="application/json")


def _error(status: int, error: str, message: str) -> Response:
    return _json({"error": error, "error_details": message, "message": message}, status)


def _candle_path(path: str) -> str | None:
    """The product id of a candles path, else None."""
    prefix, suffix = PRODUCTS + "/", "/candles"
    if path.startswith(prefix) and path.endswith(suffix):
        return path[len(prefix) : -len(suffix)]
    return None


class CoinbaseWire:
    """Coinbase's public products, candles and time endpoints over a Simulator."""

    def __init__(self, sim: Simulator):
        self.sim = sim

    def weight(self, request: Request) -> int | None:
        path = request.url.path
        return 1 if path in (PRODUCTS, TIME) or _candle_path(path) else None

    def symbol_of(self, request: Request) -> str | None:
        return _candle_path(request.url.path)

    def decorate(self, response: Response, used_weight: int) -> Response:
        return response

    def not_found(self) -> Response:
        return _error(404, "NOT_FOUND", "Not Found")

    def rejected(self, verdict: Verdict) -> Response:
        response = _error(429, "RATE_LIMIT_EXCEEDED", "Too many requests")
        response.headers["Retry-After"] = str(verdict.retry_after)
        return response

    def server_error(self, status: int) -> Response:
        if status >= 500:
            return _error(status, "INTERNAL", "internal error")
        return _error(status, "NOT_FOUND", "product not found")

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        if path == TIME:
            now = self.sim.now_ms()
            iso = dt.datetime.fromtimestamp(now / 1000, dt.UTC).isoformat(timespec="milliseconds")
            return _json({"iso": iso.replace("+00:00", "Z"), "epochSeconds": str(now // 1000), "epochMillis": str(now)})
        if path == PRODUCTS:
            products = [self._product(s) for s in self.sim.listings]
            return _json({"products": products, "num_products": len(products)})
        return self._candles(_candle_path(path) or "", request.query_params)

    def _candles(self, product_id: str, q: Any) -> Response:
        if product_id not in self.sim.listings:
            return _error(404, "NOT_FOUND", f"ProductID {product_id} could not be found")
        tf = GRANULARITY.get(q.get("granularity", ""))
        if tf is None:
            return _error(400, "INVALID_ARGUMENT", "granularity argument is invalid ")
        try:
            start_s, end_s = int(q["start"]), int(q["end"])
            limit = int(q.get("limit", MAX_CANDLES))
        except (KeyError, ValueError):
            return _error(400, "INVALID_ARGUMENT", "start and end arguments are required unix timestamps")
        if end_s <= start_s or -(-(end_s - start_s) * 1000 // tf.ms) > MAX_CANDLES or not 0 < limit <= MAX_CANDLES:
            msg = f"number of candles requested should be less than or equal to {MAX_CANDLES}"
            return _error(400, "INVALID_ARGUMENT", msg)
        candles = self.sim.candles(product_id, tf, start_s * 1000, end_s * 1000 - 1)
        asset = self.sim.market.asset(self.sim.listings[product_id].base)
        p, v = asset.price_decimals, asset.qty_decimals
        rows = [
            {
                "start": str(c.timestamp // 1000),
                "low": decimal_str(c.low, p),
                "high": decimal_str(c.high, p),
                "open": decimal_str(c.open, p),
                "close": decimal_str(c.close, p),
                "volume": decimal_str(c.volume, v),
            }
            for c in reversed(candles)
        ]
        return _json({"candles": rows[:limit]})

    def _product(self, product_id: str) -> dict[str, Any]:
        listing = self.sim.listings[product_id]
        asset = self.sim.market.asset(listing.base)
        d = self.sim.market.day_stats(listing.base, self.sim.now_ms())
        p, v = asset.price_decimals, asset.qty_decimals
        tick = decimal_str(10**-p, p)
        return {
            "product_id": product_id,
            "price": decimal_str(d.last, p),
            "price_percentage_change_24h": f"{(d.last - d.open) / d.open * 100:.8f}",
            "volume_24h": decimal_str(d.volume, v),
            "volume_percentage_change_24h": "0",
            "base_increment": decimal_str(10**-v, v) if v else "1",
            "quote_increment": tick,
            "quote_min_size": "1",
            "quote_max_size": "150000000",
            "base_min_size": "0",
            "base_max_size": "100000000",
            "base_name": listing.base,
            "quote_name": "US Dollar",
            "watched": False,
            "is_disabled": False,
            "new": False,
            "status": "online",
            "cancel_only": False,
            "limit_only": False,
            "post_only": False,
            "trading_disabled": False,
            "auction_mode": False,
            "product_type": "SPOT",
            "quote_currency_id": listing.quote,
            "base_currency_id": listing.base,
            "fcm_trading_session_details": None,
            "mid_market_price": "",
            "alias": "",
            "alias_to": [],
            "base_display_symbol": listing.base,
            "quote_display_symbol": listing.quote,
            "view_only": False,
            "price_increment": tick,
            "display_name": f"{listing.base}-{listing.quote}",
            "product_venue": "CBE",
            "approximate_quote_24h_volume": f"{d.quote_volume:.2f}",
        }
