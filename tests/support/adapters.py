"""An adapter on a fresh simulator, closed whatever the test does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from livermore.config import Settings
from livermore.exchanges import ClientOptions
from livermore.exchanges.binance import BinanceAdapter
from livermore.exchanges.coinbase import CoinbaseAdapter
from livermore.service import client_options
from livermore.simulator import RunningSimulator, Simulator, SimulatorConfig, serve_simulator

FAST = {"http_timeout_s": 2.0, "max_retries": 3, "backoff_base_s": 0.01}  # tests wait little between retries


def options(**settings: Any) -> ClientOptions:
    """ClientOptions as the service maps them from Settings, with quick retries unless told."""
    return client_options(Settings().model_copy(update={**FAST, **settings}))


class FastTime:
    """Epoch seconds running `speed` times faster than real time, and the matching sleep.

    Shared by a simulator (its wall clock: rate windows, Retry-After, ban) and an adapter (its
    clock and its limiter's sleep), so a test that waits out many Retry-After pauses takes
    milliseconds, while the simulator still judges every request on the same clock as the client.
    """

    def __init__(self, speed: float = 100.0):
        self.speed = speed
        self._epoch = time.time()
        self._start = time.monotonic()

    def __call__(self) -> float:
        return self._epoch + (time.monotonic() - self._start) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


@asynccontextmanager
async def binance_on(
    config: SimulatorConfig, *, fast_time: FastTime | None = None, **settings: Any
) -> AsyncIterator[tuple[RunningSimulator, BinanceAdapter]]:
    """With `fast_time`, the simulator and the adapter both run on it (see FastTime)."""
    served: SimulatorConfig | Simulator = config if fast_time is None else Simulator(config, wall=fast_time)
    async with serve_simulator(served) as running:
        if fast_time is None:
            adapter = BinanceAdapter(options(**settings), base_url=running.base_url, exchange_id=2)
        else:
            adapter = BinanceAdapter(options(**settings), base_url=running.base_url, exchange_id=2, clock=fast_time)
            adapter.limiter.sleep = fast_time.sleep  # Retry-After pauses are slept out by the limiter
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
