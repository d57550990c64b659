"""RestClient's retry discipline and counting: 429s spend no retries but are bounded by the request's
deadline; errors spend retries; only requests that reached the exchange are counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from livermore.embedded import free_port
from livermore.errors import ExchangeError
from livermore.exchanges.binance import BinanceAdapter
from livermore.models import Timeframe
from livermore.simulator import Simulator, SimulatorConfig
from tests.support.adapters import FastTime, binance_on, options

OPEN = 1_750_000_000_000 - 1_750_000_000_000 % 60_000
NOW = OPEN + 30_000  # market clock pinned mid-minute
M1 = Timeframe.M1
INFO_WEIGHT, KLINES_WEIGHT = 20, 2


@asynccontextmanager
async def fast_binance(**settings: object) -> AsyncIterator[tuple[Simulator, BinanceAdapter]]:
    """Binance on a simulator and a client sharing a clock 100x faster than real time (exchangeInfo
    already fetched), so waiting out a 1 s Retry-After takes 10 ms."""
    config = SimulatorConfig(symbols=5, fixed_time_ms=NOW)
    async with binance_on(config, fast_time=FastTime(100.0), **settings) as (running, adapter):
        await adapter.exchange_info()
        yield running.simulator, adapter


def klines(sim: Simulator) -> list[int]:
    return [r.status for r in sim.log if r.path == "/api/v3/klines"]


async def test_429s_spend_no_retries() -> None:
    async with fast_binance(max_retries=1) as (sim, adapter):
        sim.set_faults(force_429=8, force_429_retry_after_s=1)
        candles = await adapter.fetch_candles("BTCUSDT", M1, OPEN - 60_000)
        assert len(candles) == 2
        assert klines(sim) == [429] * 8 + [200]
        assert (adapter.metrics.throttled, adapter.metrics.retries) == (8, 0)
        # Every pause was obeyed: a request inside Retry-After would have drawn a 418 (or a 9th 429).
        assert sim.stats()["banned"] == 0 and sim.stats()["throttled"] == 8
        assert adapter.metrics.requests == 1 + 9  # exchangeInfo, then every klines attempt
        assert adapter.metrics.weight_used == INFO_WEIGHT + 9 * KLINES_WEIGHT


async def test_429s_and_errors_each_keep_their_own_count() -> None:
    async with fast_binance(max_retries=1) as (sim, adapter):
        sim.set_faults(force_429=3, error_rate=1.0)  # the rate rule answers first: 3 x 429, then 5xx
        with pytest.raises(ExchangeError, match="failed 2 times; last: HTTP 50"):
            await adapter.fetch_candles("BTCUSDT", M1, OPEN - 60_000)
        assert klines(sim)[:3] == [429] * 3 and len(klines(sim)) == 5
        assert (adapter.metrics.throttled, adapter.metrics.retries) == (3, 1)
        assert adapter.metrics.requests == 1 + 5


async def test_repeated_429s_end_at_the_request_deadline() -> None:
    async with fast_binance(max_retries=1, request_deadline_s=5.0) as (sim, adapter):
        sim.set_faults(force_429=1000, force_429_retry_after_s=1)
        with pytest.raises(ExchangeError, match=r"gave up after .* HTTP 429 pauses .* 5 s deadline"):
            await adapter.fetch_candles("BTCUSDT", M1, OPEN - 60_000)
        throttled = adapter.metrics.throttled
        assert 1 < throttled < 8 and adapter.metrics.retries == 0  # gave up by time, not by count
        assert klines(sim) == [429] * throttled and sim.stats()["banned"] == 0


async def test_a_tiny_deadline_gives_up_at_the_first_429_and_keeps_the_pause() -> None:
    async with fast_binance(request_deadline_s=0.001) as (sim, adapter):
        sim.set_faults(force_429=5, force_429_retry_after_s=30)
        with pytest.raises(ExchangeError, match=r"waiting 30 s more would pass its 0\.001 s deadline; last: HTTP 429"):
            await adapter.fetch_candles("BTCUSDT", M1, OPEN - 60_000)
        assert klines(sim) == [429] and adapter.metrics.throttled == 1
        assert adapter.limiter.paused_until >= sim.wall() + 25  # the exchange's pause still holds for all


async def test_nothing_listening_counts_no_requests_but_spends_the_retries() -> None:
    adapter = BinanceAdapter(options(max_retries=2), base_url=f"http://127.0.0.1:{free_port()}", exchange_id=2)
    try:
        with pytest.raises(ExchangeError, match="failed 3 times; last: ConnectError"):
            await adapter.exchange_info()
        assert adapter.metrics.as_dict() == {
            "requests": 0,
            "weight_used": 0,
            "throttled": 0,
            "banned": 0,
            "retries": 2,
        }
    finally:
        await adapter.close()


async def test_persistent_5xx_counts_every_attempt_as_a_request() -> None:
    async with fast_binance(max_retries=2) as (sim, adapter):
        sim.set_faults(error_rate=1.0)
        with pytest.raises(ExchangeError, match="failed 3 times; last: HTTP 50"):
            await adapter.fetch_candles("BTCUSDT", M1, OPEN - 60_000)
        assert adapter.metrics.retries == 2 and adapter.metrics.throttled == 0
        assert adapter.metrics.requests == 1 + 3 and adapter.metrics.weight_used == INFO_WEIGHT + 3 * KLINES_WEIGHT


async def test_a_timeout_after_connecting_is_counted() -> None:
    config = SimulatorConfig(symbols=5, fixed_time_ms=NOW)
    async with binance_on(config, max_retries=1, http_timeout_s=0.2) as (running, adapter):
        await adapter.exchange_info()
        running.simulator.set_faults(timeout_rate=1.0, timeout_s=5.0)
        with pytest.raises(ExchangeError, match="failed 2 times; last: ReadTimeout"):
            await adapter.fetch_candles("BTCUSDT", M1, OPEN - 60_000)
        assert adapter.metrics.retries == 1
        assert adapter.metrics.requests == 1 + 2 and adapter.metrics.weight_used == INFO_WEIGHT + 2 * KLINES_WEIGHT


def _raising(error: Callable[[httpx.Request], Exception]) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("error", "reached"),
    [
        (lambda r: httpx.ConnectError("refused", request=r), False),
        (lambda r: httpx.ConnectTimeout("connect timed out", request=r), False),
        (lambda r: httpx.PoolTimeout("no connection free", request=r), False),
        (lambda r: httpx.ReadTimeout("read timed out", request=r), True),
        (lambda r: httpx.ReadError("connection reset", request=r), True),
        (lambda r: httpx.RemoteProtocolError("server disconnected", request=r), True),
    ],
    ids=["connect-error", "connect-timeout", "pool-timeout", "read-timeout", "read-error", "remote-protocol"],
)
async def test_transport_errors_count_only_what_reached_the_exchange(
    error: Callable[[httpx.Request], Exception], reached: bool
) -> None:
    async with _raising(error) as client:
        adapter = BinanceAdapter(
            options(max_retries=1), base_url="http://exchange.invalid", exchange_id=2, client=client
        )
        with pytest.raises(ExchangeError, match="failed 2 times"):
            await adapter.exchange_info()
        assert adapter.metrics.retries == 1
        assert (adapter.metrics.requests, adapter.metrics.weight_used) == ((2, 2 * INFO_WEIGHT) if reached else (0, 0))
        await adapter.close()


async def test_a_request_that_never_connected_leaves_the_limiter_free() -> None:
    """Released in every case: nothing stays in flight to be carried into the next window."""
    async with _raising(lambda r: httpx.ConnectError("refused", request=r)) as client:
        adapter = BinanceAdapter(
            options(max_retries=3), base_url="http://exchange.invalid", exchange_id=2, client=client
        )
        with pytest.raises(ExchangeError):
            await adapter.exchange_info()
        assert adapter.limiter._in_flight == 0
        await adapter.close()


async def test_errors_stop_retrying_at_the_deadline_too() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        adapter = BinanceAdapter(
            options(max_retries=5, backoff_base_s=60.0, request_deadline_s=10.0),
            base_url="http://exchange.invalid",
            exchange_id=2,
            client=client,
        )
        with pytest.raises(ExchangeError, match=r"gave up after .* 10 s deadline; last: HTTP 503"):
            await asyncio.wait_for(adapter.exchange_info(), 30)  # a hang guard: the backoff is 30-90 s
        assert calls == 1 and adapter.metrics.retries == 0 and adapter.metrics.requests == 1
        await adapter.close()
