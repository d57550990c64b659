"""Build the adapter for an exchange name (the CLI's and the service's single entry point)."""

from __future__ import annotations

import httpx

from livermore.config import Settings
from livermore.exchanges.base import ExchangeAdapter
from livermore.exchanges.binance import BinanceAdapter
from livermore.exchanges.coinbase import CoinbaseAdapter

# name -> (default base URL, default exchange id)
EXCHANGES: dict[str, tuple[str, int]] = {
    "coinbase": ("https://api.coinbase.com", 1),
    "binance": ("https://api.binance.com", 2),
    "binance_us": ("https://api.binance.us", 3),
}


def make_adapter(
    exchange: str,
    *,
    base_url: str | None = None,
    settings: Settings,
    exchange_id: int | None = None,
    client: httpx.AsyncClient | None = None,
) -> ExchangeAdapter:
    """An adapter for `exchange` ('binance', 'binance_us', 'coinbase'), optionally at another URL
    (e.g. the simulator's) and under another exchange id."""
    try:
        default_url, default_id = EXCHANGES[exchange]
    except KeyError:
        raise ValueError(f"unknown exchange {exchange!r} (supported: {' '.join(EXCHANGES)})") from None
    url, eid = base_url or default_url, default_id if exchange_id is None else exchange_id
    if exchange == "coinbase":
        return CoinbaseAdapter(client, url, eid, settings=settings)
    return BinanceAdapter(client, url, eid, settings=settings, name=exchange)
