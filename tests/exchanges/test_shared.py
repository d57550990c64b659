"""Adapters of several processes on one IP (each with its own limiter, one Redis) against the
simulator, judged by its own per-IP counters: the shared budget, the shared pauses, the bound source IP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from livermore.errors import ExchangeBannedError
from livermore.exchanges import make_adapter
from livermore.exchanges.binance import BinanceAdapter
from livermore.exchanges.coinbase import CoinbaseAdapter
from livermore.exchanges.shared import SharedBudget
from livermore.keys import budget_pause_key
from livermore.models import Timeframe
from livermore.simulator import RunningSimulator, Simulator, SimulatorConfig, serve_simulator
from tests.support.adapters import FastTime, options

OPEN = 1_750_000_000_000 - 1_750_000_000_000 % 60_000
NOW = OPEN + 30_000  # market clock pinned mid-minute
M1 = Timeframe.M1
BINANCE, COINBASE = 2, 1


@asynccontextmanager
async def processes(
    redis: Redis, config: SimulatorConfig, n: int = 2, *, fast_time: FastTime | None = None, **settings: Any
) -> AsyncIterator[tuple[RunningSimulator, list[BinanceAdapter]]]:
    """`n` Binance adapters, as `n` processes on one IP have them: a limiter each, one budget in
    Redis; with `fast_time`, they and the simulator run on it (see FastTime)."""
    served = config if fast_time is None else Simulator(config, wall=fast_time)
    async with serve_simulator(served) as running, AsyncExitStack() as stack:
        adapters = []
        for _ in range(n):
            budget = SharedBudget(redis, BINANCE, "default")
            if fast_time is None:
                adapter = BinanceAdapter(options(**settings), base_url=running.base_url, exchange_id=2, budget=budget)
            else:
                adapter = BinanceAdapter(
                    options(**settings), base_url=running.base_url, exchange_id=2, budget=budget, clock=fast_time
                )
                adapter.limiter.sleep = fast_time.sleep
            stack.push_async_callback(adapter.close)
            await adapter.exchange_info()
            adapters.append(adapter)
        yield running, adapters


def client_stats(sim: Simulator, ip: str = "127.0.0.1") -> dict[str, Any]:
    clients = sim.stats()["by_client"]
    assert isinstance(clients, dict)
    return dict(clients[ip])


async def test_two_processes_on_one_ip_keep_every_window_under_the_budget(redis: Redis) -> None:
    limit, budget = 300, 270  # per 1 s window, 10% margin: 135 klines requests a second between them
    async with processes(redis, SimulatorConfig(symbols=5, window_s=1, weight_limit=limit), max_in_flight=8) as (
        running,
        adapters,
    ):
        sim = running.simulator
        await asyncio.sleep(1 - sim.wall() % 1)  # the burst starts in a window of its own
        first = int(sim.wall())
        now = M1.floor(sim.now_ms())
        fetches = [adapter.fetch_candles("BTCUSDT", M1, now - 60_000, now) for adapter in adapters for _ in range(250)]
        await asyncio.gather(*fetches)
        windows = {int(w): weight for w, weight in client_stats(sim)["windows"].items() if int(w) >= first}
        assert sim.stats()["throttled"] == 0 and [a.metrics.throttled for a in adapters] == [0, 0]
        assert sum(windows.values()) == 2 * 250 * 2 and len(windows) >= 3
        # Not over the budget, let alone the limit: the sum is exact. (Two in-process limiters stay
        # under the limit through the weight header, but spend the safety margin: 286 a window.)
        assert max(windows.values()) <= budget, windows
        full = [windows[w] for w in sorted(windows)[:-1]]  # the last window is partly used
        assert sum(full) / len(full) >= 0.8 * budget, windows  # together they spend the budget, not half of it


async def test_the_processes_of_one_host_follow_the_exchanges_clock_at_one_offset(redis: Redis) -> None:
    """Each measures the exchange's clock (400 ms ahead) from its own exchangeInfo, a round trip
    apart; they use the first one's measurement, so their windows turn at one instant."""
    config = SimulatorConfig(symbols=5, window_s=1, weight_limit=300, clock_offset_ms=400)
    async with processes(redis, config, n=3) as (_, adapters):
        offsets = {adapter.limiter.offset_s for adapter in adapters}
        assert len(offsets) == 1 and 0 <= 0.4 - offsets.pop() + 1e-6 < 0.2


async def test_a_process_starting_beside_a_busy_one_counts_its_exchange_info_in_the_shared_window(
    redis: Redis,
) -> None:
    """exchangeInfo's 20 weight, sent under the public default (6000 a minute), would land unseen in
    a window the busy process has spent: 95 + 20 > 100. Following the terms the first process left
    in Redis, the newcomer waits for room like any grant."""
    config, budget = SimulatorConfig(symbols=5, window_s=1, weight_limit=100), 95
    async with processes(redis, config, n=1, max_in_flight=8, safety_margin=0.05) as (running, (busy,)):
        sim = running.simulator
        await asyncio.sleep(1 - sim.wall() % 1)
        first = int(sim.wall())
        now = M1.floor(sim.now_ms())
        fetches = asyncio.gather(*(busy.fetch_candles("BTCUSDT", M1, now - 60_000, now) for _ in range(200)))
        await asyncio.sleep(1.5)  # mid-window, the window spent
        newcomer = BinanceAdapter(
            options(safety_margin=0.05),
            base_url=running.base_url,
            exchange_id=2,
            budget=SharedBudget(redis, BINANCE, "default"),
        )
        try:
            await newcomer.exchange_info()
            await asyncio.gather(
                fetches, *(newcomer.fetch_candles("ETHUSDT", M1, now - 60_000, now) for _ in range(20))
            )
        finally:
            await newcomer.close()
        windows = {int(w): weight for w, weight in client_stats(sim)["windows"].items() if int(w) >= first}
        assert sim.stats()["throttled"] == 0
        assert sum(windows.values()) == 20 + 2 * 220
        assert max(windows.values()) <= budget, windows


async def test_a_429_drawn_by_one_process_pauses_the_other(redis: Redis) -> None:
    config = SimulatorConfig(symbols=5, fixed_time_ms=NOW, force_429_retry_after_s=30)
    async with processes(redis, config, fast_time=FastTime(100.0)) as (running, (first, second)):
        sim = running.simulator
        sim.set_faults(force_429=1)
        drawn = asyncio.create_task(first.fetch_candles("BTCUSDT", M1, OPEN - 60_000))
        async with asyncio.timeout(10):
            while not await redis.exists(budget_pause_key(BINANCE, "default")):  # the 429 drawn, its pause shared
                await asyncio.sleep(0.001)
        waited = await second.fetch_candles("ETHUSDT", M1, OPEN - 60_000)
        assert len(await drawn) == len(waited) == 2
        klines = [r for r in sim.log if r.path == "/api/v3/klines"]
        assert [r.status for r in klines] == [429, 200, 200]
        assert all(r.at >= klines[0].at + 30 for r in klines[1:])  # nothing sent during Retry-After
        assert second.limiter.paused_until >= klines[0].at + 30 and second.metrics.throttled == 0
        assert (sim.stats()["throttled"], sim.stats()["banned"]) == (1, 0)


async def test_a_418_drawn_by_one_process_holds_the_other_until_the_ban_ends(redis: Redis) -> None:
    fast_time = FastTime(100.0)
    config = SimulatorConfig(symbols=5, fixed_time_ms=NOW, ban_s=120)
    async with (
        processes(redis, config, fast_time=fast_time) as (running, (first, second)),
        httpx.AsyncClient(base_url=running.base_url) as rude,
    ):
        sim = running.simulator
        sim.set_faults(force_429=1, force_429_retry_after_s=30)
        assert (await rude.get("/api/v3/ping")).status_code == 429
        await fast_time.sleep(1)  # past the grace: sending now is ignoring Retry-After
        assert (await rude.get("/api/v3/ping")).status_code == 418  # the IP is banned, every process on it
        ban_ends = sim.wall() - 1 + 120
        with pytest.raises(ExchangeBannedError):
            await first.fetch_candles("BTCUSDT", M1, OPEN - 60_000)
        assert len(await second.fetch_candles("ETHUSDT", M1, OPEN - 60_000)) == 2
        klines = [r for r in sim.log if r.path == "/api/v3/klines"]
        assert [r.status for r in klines] == [418, 200] and klines[1].at >= ban_ends
        assert (first.metrics.banned, second.metrics.banned, sim.stats()["banned"]) == (1, 0, 2)


async def test_a_process_bound_to_127_0_0_2_is_that_ip_to_the_exchange_with_a_budget_of_its_own(
    redis: Redis,
) -> None:
    async with serve_simulator(SimulatorConfig(symbols=5, fixed_time_ms=NOW)) as running:
        adapter = make_adapter("binance", options(source_address="127.0.0.2"), base_url=running.base_url, redis=redis)
        try:
            assert len(await adapter.fetch_candles("BTCUSDT", M1, OPEN - 60_000)) == 2
        finally:
            await adapter.close()
        clients = running.simulator.stats()["by_client"]
        assert isinstance(clients, dict) and list(clients) == ["127.0.0.2"]
        assert (clients["127.0.0.2"]["requests"], clients["127.0.0.2"]["weight"]) == (2, 22)
        budget_keys = {k.decode() async for k in redis.scan_iter("livermore:budget:*")}
        assert budget_keys and all(k.startswith("livermore:budget:{2:127.0.0.2}:") for k in budget_keys)


async def test_two_coinbase_processes_share_one_bucket(redis: Redis) -> None:
    config = SimulatorConfig(exchange="coinbase", symbols=5, fixed_time_ms=NOW, coinbase_rate_per_s=20, burst=10)
    async with serve_simulator(config) as running, AsyncExitStack() as stack:
        adapters = [
            CoinbaseAdapter(
                options(safety_margin=0.3),  # 14/s, bursts of 7: room for arrivals bunched by a busy loop
                base_url=running.base_url,
                exchange_id=1,
                rate_per_s=20,
                burst=10,
                budget=SharedBudget(redis, COINBASE, "default"),
            )
            for _ in range(2)
        ]
        for adapter in adapters:
            stack.push_async_callback(adapter.close)
        fetches = [a.fetch_candles("BTC-USD", M1, OPEN - 60_000, OPEN) for a in adapters for _ in range(20)]
        await asyncio.gather(*fetches)  # each alone would send its burst of 7 at once: 14 > 10
        assert running.simulator.stats()["throttled"] == 0
        assert [a.metrics.requests for a in adapters] == [20, 20]
