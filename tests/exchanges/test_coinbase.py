"""CoinbaseAdapter against the simulator: 350-candle windows, newest-first rows, holes, token bucket."""

from __future__ import annotations

import asyncio

import pytest

from livermore.errors import UnknownSymbolError
from livermore.models import Timeframe
from livermore.simulator import SimulatorConfig
from tests.support.adapters import coinbase_on

OPEN = 1_750_000_000_000 - 1_750_000_000_000 % 60_000
NOW = OPEN + 30_000
M1 = Timeframe.M1


def config(**kw: object) -> SimulatorConfig:
    return SimulatorConfig(**{"exchange": "coinbase", "symbols": 5, "fixed_time_ms": NOW, **kw})  # type: ignore[arg-type]


async def test_pagination_ground_truth_and_no_trade_holes() -> None:
    async with coinbase_on(config(no_trade_symbols=["ETH-USD"], listings={"SOL-USD": OPEN - 99 * 60_000})) as (
        s,
        adapter,
    ):
        start = OPEN - 799 * 60_000
        btc = (await adapter.fetch_candles("BTC-USD", M1, start)).candles()
        assert len(btc) == 800 and [c.timestamp for c in btc] == list(range(start, OPEN + 1, 60_000))
        assert btc == s.simulator.candles("BTC-USD", M1, start, NOW)
        eth = (await adapter.fetch_candles("ETH-USD", M1, start, OPEN)).candles()
        assert 450 < len(eth) < 650 and all(c.volume > 0 for c in eth)  # no-trade minutes are omitted
        assert eth == s.simulator.candles("ETH-USD", M1, start, OPEN)
        sol = (await adapter.fetch_candles("SOL-USD", M1, OPEN - 300 * 60_000, OPEN)).candles()
        assert len(sol) == 100 and sol[0].timestamp == OPEN - 99 * 60_000
        candle_requests = [r for r in s.simulator.log if r.path.endswith("/candles")]
        assert len([r for r in candle_requests if "BTC" in r.path]) == 3  # 350 + 350 + 100


async def test_unknown_product_not_retried_and_top_symbols() -> None:
    async with coinbase_on(config()) as (_s, adapter):
        with pytest.raises(UnknownSymbolError):
            await adapter.fetch_candles("NOPE-USD", M1, OPEN - 60_000, OPEN)
        assert adapter.metrics.requests == 1 and adapter.metrics.retries == 0
        assert [p.symbol for p in await adapter.list_symbols("USD")][:2] == ["BTC-USD", "ETH-USD"]
        assert (await adapter.top_symbols(2, "USD"))[0] == "BTC-USD"


async def test_token_bucket_keeps_a_burst_free_of_429s() -> None:
    async with coinbase_on(config(coinbase_rate_per_s=20, burst=10), rate_per_s=20, burst=10) as (s, adapter):
        await asyncio.gather(*(adapter.fetch_candles("BTC-USD", M1, OPEN - 60_000, OPEN) for _ in range(40)))
        assert adapter.metrics.requests == 40 and adapter.metrics.throttled == 0
        assert s.simulator.stats()["throttled"] == 0


async def test_injected_429_waits_retry_after() -> None:
    async with coinbase_on(config(force_429=1)) as (s, adapter):
        assert len(await adapter.fetch_candles("BTC-USD", M1, OPEN - 60_000, OPEN)) == 2
        first, second = list(s.simulator.log)[:2]
        assert (first.status, second.status) == (429, 200) and second.at >= first.at + 1.0
