"""A served exchange for the control and admin tests: simulator + adapter + the assembled service."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from livermore.config import Settings
from livermore.control.client import ControlClient
from livermore.models import Timeframe
from livermore.service import Service, adapter_for, assemble, presence_for
from livermore.simulator import RunningSimulator, SimulatorConfig, serve_simulator
from livermore.warmup.symbols import MonitoredSymbols

TOKEN = "test-token"
TIMEFRAMES = [Timeframe.H1, Timeframe.M5]


@dataclass
class World:
    sim: RunningSimulator
    service: Service
    settings: Settings
    symbols: list[str]  # monitored at start
    spare: list[str]  # known to the exchange, not monitored

    @property
    def exchange_id(self) -> int:
        return self.service.handlers.ctx.exchange_id


@asynccontextmanager
async def served_world(
    redis: Redis,
    redis_url: str,
    *,
    monitored: int = 3,
    spare: int = 3,
    registered: bool = False,
    **settings_: Any,
) -> AsyncIterator[World]:
    """3 monitored symbols x 2 timeframes on a fresh simulator that lists `spare` more, on a private
    command channel; `registered`: as the exchange's instance (its status key written, heartbeating
    every 50 ms); `settings_`: Settings fields beyond these."""
    settings = Settings(
        redis_url=redis_url,
        stats_interval_s=0,
        max_in_flight=2,
        command_sub=f"t{uuid.uuid4().hex[:8]}",
        heartbeat_s=0.05,
        admin_allowed_hosts=["admin"],  # the ASGI clients' base_url, http://admin; and admin_host, 127.0.0.1
    ).model_copy(update=settings_)
    async with serve_simulator(SimulatorConfig(exchange="binance", symbols=monitored + spare)) as sim:
        adapter = adapter_for(settings, "binance", base_url=sim.base_url)
        try:
            known = sorted(s.symbol for s in await adapter.list_symbols())
            await MonitoredSymbols(redis, adapter.exchange_id).seed(known[:monitored])
            async with AsyncExitStack() as stack:
                presence = (
                    await stack.enter_async_context(presence_for(redis, adapter, settings)) if registered else None
                )
                service = assemble(redis, adapter, settings, TIMEFRAMES, TOKEN, presence)
                stack.push_async_callback(service.runner.stop)
                yield World(sim, service, settings, known[:monitored], known[monitored:])
        finally:
            await adapter.close()


@asynccontextmanager
async def listening(world: World, redis: Redis) -> AsyncIterator[ControlClient]:
    """The control channel running, and a client subscribed to its replies."""
    async with ControlClient(redis, world.settings.command_sub) as client:
        task = asyncio.create_task(world.service.channel.run())
        await world.service.channel.ready.wait()
        try:
            yield client
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
