"""A warmup world for tests: the simulator on loopback, an adapter on it and a WarmupService."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis

from livermore.config import Settings
from livermore.exchanges import ExchangeAdapter
from livermore.models import Timeframe
from livermore.service import adapter_for, warmup_for
from livermore.simulator import Simulator, SimulatorConfig, serve_simulator
from livermore.warmup import WarmupService

TFS = [Timeframe.H1, Timeframe.M5, Timeframe.M1]
SETTINGS = Settings(max_in_flight=8, lock_ttl_s=5)


@dataclass
class Env:
    sim: Simulator
    base_url: str
    adapter: ExchangeAdapter
    service: WarmupService
    symbols: list[str]
    redis: Redis

    def pin(self, at_ms: int | None = None) -> int:
        """Stop the market clock, which is the service's clock, at `at_ms` (default: now), so that
        no interval closes between two runs unless the test moves it; returns the time. A fetch
        asks the exchange for candles up to the service's clock (on Coinbase too, whose adapter
        would otherwise ask up to the exchange's clock, measured once and moved on by wall time)."""
        at = self.sim.now_ms() if at_ms is None else at_ms
        self.sim.set_clock(fixed_time_ms=at)
        return at


async def make_env(redis: Redis, config: SimulatorConfig, exchange: str) -> AsyncIterator[Env]:
    async with serve_simulator(config) as handle:
        adapter = adapter_for(SETTINGS, exchange, base_url=handle.base_url)
        symbols = [s.symbol for s in await adapter.list_symbols()][: config.symbols]
        service = warmup_for(redis, adapter, SETTINGS, clock=handle.simulator.now_ms)
        try:
            yield Env(handle.simulator, handle.base_url, adapter, service, symbols, redis)
        finally:
            await adapter.close()
