"""The one table of supported exchanges: name -> adapter class, production base URL, exchange id."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from livermore.connection import RedisClient
from livermore.errors import UsageError
from livermore.exchanges.base import ExchangeAdapter
from livermore.exchanges.binance import BinanceAdapter
from livermore.exchanges.coinbase import CoinbaseAdapter
from livermore.exchanges.http import ClientOptions
from livermore.exchanges.shared import SharedBudget


@dataclass(frozen=True, slots=True)
class ExchangeSpec:
    adapter: type[BinanceAdapter] | type[CoinbaseAdapter]
    base_url: str
    exchange_id: int  # the id in the original's key names


EXCHANGES: dict[str, ExchangeSpec] = {
    "coinbase": ExchangeSpec(CoinbaseAdapter, "https://api.coinbase.com", 1),
    "binance": ExchangeSpec(BinanceAdapter, "https://api.binance.com", 2),
    "binance_us": ExchangeSpec(BinanceAdapter, "https://api.binance.us", 3),
}


def exchange_spec(name: str) -> ExchangeSpec:
    """The table's row for `name`; UsageError naming the supported ones otherwise."""
    try:
        return EXCHANGES[name]
    except KeyError:
        raise UsageError(f"unknown exchange {name!r} (supported: {', '.join(EXCHANGES)})") from None


def make_adapter(
    name: str,
    options: ClientOptions,
    *,
    base_url: str | None = None,
    exchange_id: int | None = None,
    client: httpx.AsyncClient | None = None,
    redis: RedisClient | None = None,
) -> ExchangeAdapter:
    """An adapter for `name`, optionally at another URL (e.g. the simulator's) and under another id.
    With `redis`, its rate budget is the one every process on its egress (`options.egress`) shares
    there, under the exchange's own id whatever `exchange_id` the cache uses; else in-process."""
    spec = exchange_spec(name)
    return spec.adapter(
        options,
        base_url=base_url or spec.base_url,
        exchange_id=spec.exchange_id if exchange_id is None else exchange_id,
        name=name,
        client=client,
        budget=None if redis is None else SharedBudget(redis, spec.exchange_id, options.egress),
    )
