"""An adapter on a fresh simulator, closed whatever the test does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from livermore.config import Settings
from livermore.exchanges import ClientOptions
from livermore.exchanges.binance import BinanceAdapter
from livermore.exchanges.coinbase import CoinbaseAdapter
from livermore.service import client_options
from livermore.simulator import RunningSimulator, SimulatorConfig, serve_simulator

FAST = {"http_timeout_s": 2.0, "max_retries": 3, "backoff_base_s": 0.01}  # tests wait little between retries


def options(**settings: Any) -> ClientOptions:
    """ClientOptions as the service maps them from Settings, with quick retries unless told."""
    return client_options(Settings().model_copy(update={**FAST, **settings}))


@asynccontextmanager
async def binance_on(
    config: SimulatorConfig, **settings: Any
) -> AsyncIterator[tuple[RunningSimulator, BinanceAdapter]]:
    async with serve_simulator(config) as running:
        adapter = BinanceAdapter(options(**settings), base_url=running.base_url, exchange_id=2)
        try:
            yield running, adapter
        finally:
            await adapter.close()


@asynccontextmanager
async def coinbase_on(
    config: SimulatorConfig, **adapter_kw: Any
) -> AsyncIterator[tuple[RunningSimulator, CoinbaseAdapter]]:
    async with serve_simulator(config) as running:
        adapter = CoinbaseAdapter(options(), base_url=running.base_url, exchange_id=1, **adapter_kw)
        try:
            yield running, adapter
        finally:
            await adapter.close()
