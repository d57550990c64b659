"""BinanceAdapter against the simulator on loopback: pagination, ground truth, budget, faults, ccxt."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

import ccxt
import httpx
import pytest

from livermore.errors import ExchangeBannedError, ExchangeError, UnknownSymbolError, UsageError
from livermore.exchanges import make_adapter
from livermore.exchanges.binance import BinanceAdapter
from livermore.models import Timeframe
from livermore.simulator import Simulator, SimulatorConfig
from tests.support.adapters import binance_on, options

OPEN = 1_750_000_000_000 - 1_750_000_000_000 % 60_000  # the open (current) minute's start
NOW = OPEN + 30_000  # market clock pinned mid-minute
M1 = Timeframe.M1


@asynccontextmanager
async def binance(config: SimulatorConfig, **settings: object) -> AsyncIterator[tuple[Simulator, BinanceAdapter, str]]:
    async with binance_on(config, **settings) as (running, adapter):
        yield running.simulator, adapter, running.base_url


def pinned(**kw: object) -> SimulatorConfig:
    return SimulatorConfig(**{"symbols": 5, "fixed_time_ms": NOW, **kw})  # type: ignore[arg-type]


async def test_pagination_matches_ground_truth_ascending_without_duplicates() -> None:
    async with binance(pinned()) as (sim, adapter, _):
        start = OPEN - 2500 * 60_000
        candles = (await adapter.fetch_candles("BTCUSDT", M1, start)).candles()
        stamps = [c.timestamp for c in candles]
        assert len(candles) == 2501  # 2500 closed + the open one
        assert stamps == sorted(set(stamps))
        assert candles == sim.candles("BTCUSDT", M1, start, NOW)
        assert Counter(r.path for r in sim.log) == {"/api/v3/exchangeInfo": 1, "/api/v3/klines": 3}
        assert adapter.metrics.requests == 4 and adapter.metrics.weight_used == 26


async def test_closed_candles_are_stable_and_the_open_one_moves_with_the_clock() -> None:
    async with binance(pinned()) as (sim, adapter, _):
        first = (await adapter.fetch_candles("ETHUSDT", Timeframe.M5, OPEN - 3600_000, NOW)).candles()
        sim.set_clock(fixed_time_ms=NOW + 100_000)
        second = (await adapter.fetch_candles("ETHUSDT", Timeframe.M5, OPEN - 3600_000, NOW)).candles()
        assert first[:-1] == second[:-1]
        assert first[-1] != second[-1]
        assert all(0 < c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high for c in first)


async def test_listing_edge_and_no_trade_zero_volume_rows() -> None:
    listing = OPEN - 100 * 60_000 + 12_345
    async with binance(pinned(listings={"SOLUSDT": listing}, no_trade_symbols=["XRPUSDT"])) as (sim, adapter, _):
        listed = (await adapter.fetch_candles("SOLUSDT", M1, 0)).candles()
        assert listed[0].timestamp == M1.floor(listing) and len(listed) == 101
        holes = (await adapter.fetch_candles("XRPUSDT", M1, OPEN - 1000 * 60_000)).candles()
        empty = [c for c in holes if c.volume == 0]
        assert len(holes) == 1001 and 200 < len(empty) < 400
        by_time = {c.timestamp: c for c in holes}
        for c in empty:
            prev = by_time.get(c.timestamp - 60_000)
            assert c.open == c.high == c.low == c.close
            assert prev is None or c.open == prev.close
        assert holes == sim.candles("XRPUSDT", M1, OPEN - 1000 * 60_000, NOW)


async def test_symbols_and_top_by_quote_volume() -> None:
    async with binance(pinned()) as (_, adapter, _):
        symbols = await adapter.list_symbols("USDT")
        assert [s.symbol for s in symbols] == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT"]
        assert await adapter.list_symbols("EUR") == []
        top = await adapter.top_symbols(3, "USDT")
        assert len(top) == 3 and top[0] == "BTCUSDT"


async def test_unknown_symbol_is_not_retried() -> None:
    async with binance(pinned()) as (sim, adapter, _):
        await adapter.exchange_info()
        with pytest.raises(UnknownSymbolError):
            await adapter.fetch_candles("NOPEUSDT", M1, OPEN - 60_000)
        assert [r.path for r in sim.log].count("/api/v3/klines") == 1
        assert adapter.metrics.retries == 0


@pytest.mark.parametrize(
    "fault",
    [{"error_rate": 1.0}, {"malformed_rate": 1.0}, {"timeout_rate": 1.0, "timeout_s": 5.0}],
    ids=["5xx", "garbage", "timeout"],
)
async def test_transient_faults_are_retried_then_succeed(fault: dict[str, float]) -> None:
    async with binance(pinned(), http_timeout_s=0.3) as (sim, adapter, _):
        await adapter.exchange_info()
        sim.set_faults(**fault)

        async def heal_after_two() -> None:
            while sum(r.path == "/api/v3/klines" for r in sim.log) < 2:
                await asyncio.sleep(0.01)
            sim.set_faults(error_rate=0.0, malformed_rate=0.0, timeout_rate=0.0)

        healer = asyncio.create_task(heal_after_two())
        candles = await adapter.fetch_candles("BTCUSDT", M1, OPEN - 10 * 60_000)
        await healer
        assert len(candles) == 11
        assert adapter.metrics.retries >= 2


async def test_persistent_5xx_gives_up_with_a_clear_error() -> None:
    async with binance(pinned(), max_retries=2) as (sim, adapter, _):
        await adapter.exchange_info()
        sim.set_faults(error_rate=1.0)
        with pytest.raises(ExchangeError, match="failed 3 times; last: HTTP 50"):
            await adapter.fetch_candles("BTCUSDT", M1, OPEN - 60_000)
        assert adapter.metrics.retries == 2


async def test_injected_429_is_honoured_before_retrying() -> None:
    async with binance(pinned(force_429_retry_after_s=1)) as (sim, adapter, _):
        await adapter.exchange_info()
        sim.set_faults(force_429=1)
        candles = await adapter.fetch_candles("BTCUSDT", M1, OPEN - 60_000)
        assert len(candles) == 2
        klines = [r for r in sim.log if r.path == "/api/v3/klines"]
        assert [r.status for r in klines] == [429, 200]
        assert klines[1].at >= klines[0].at + 1.0  # nothing sent during Retry-After
        assert adapter.metrics.throttled == 1 and sim.stats()["banned"] == 0


async def test_418_pauses_and_raises_banned() -> None:
    async with binance(pinned(ban_s=120)) as (sim, adapter, base_url):
        await adapter.exchange_info()
        sim.set_faults(force_429=1, force_429_retry_after_s=30)
        async with httpx.AsyncClient(base_url=base_url) as rude:  # ignores Retry-After: gets banned
            assert (await rude.get("/api/v3/ping")).status_code == 429
            assert (await rude.get("/api/v3/ping")).status_code == 429  # already on its way: grace
            await asyncio.sleep(0.6)  # past the grace: this one is a choice to ignore Retry-After
            r = await rude.get("/api/v3/ping")
            assert (r.status_code, r.headers["Retry-After"], r.json()["code"]) == (418, "120", -1003)
        with pytest.raises(ExchangeBannedError) as banned:
            await adapter.fetch_candles("BTCUSDT", M1, OPEN - 60_000)
        assert banned.value.until_s >= sim.wall() + 100
        assert adapter.metrics.banned == 1
        sent = len(sim.log)
        with pytest.raises(ExchangeBannedError):  # still banned: nothing is sent
            await adapter.fetch_candles("BTCUSDT", M1, OPEN - 60_000)
        assert len(sim.log) == sent


def _weights_by_window(sim: Simulator, window_s: float, keep: Callable[[str], bool]) -> list[int]:
    """Weight the server counted per wall-clock window, for full windows only (first and last dropped)."""
    per: Counter[int] = Counter()
    for r in sim.log:
        if keep(r.path):
            per[int(r.at // window_s)] += r.weight
    windows = sorted(per)
    return [per[w] for w in windows[1:-1]]


async def test_burst_saturates_the_budget_with_zero_429s() -> None:
    # The issue asks for >= 90% of the (scaled) limit per window with no 429. With the default 10%
    # safety margin the budget itself is 90% of the limit, so this test passes a 5% margin and checks
    # the full windows spent >= 90% of the limit on average (and, with no 429s, never more than it).
    # The limit is scaled so that the loopback pair (simulator and client in one event loop) can
    # serve more than the budget: the limiter, not the machine, must be what holds us back.
    limit = 300
    async with binance(
        SimulatorConfig(symbols=5, window_s=1, weight_limit=limit), safety_margin=0.05, max_in_flight=8
    ) as (
        sim,
        adapter,
        _,
    ):
        now = M1.floor(sim.now_ms())
        await adapter.exchange_info()
        assert adapter.limiter.budget == 285
        n = 1000
        results = await asyncio.gather(*(adapter.fetch_candles("BTCUSDT", M1, now - 60_000, now) for _ in range(n)))
        assert all(len(r) == 2 for r in results)
        assert adapter.metrics.throttled == 0 and sim.stats()["throttled"] == 0
        full = _weights_by_window(sim, 1, lambda _: True)
        assert len(full) >= 3
        assert sum(full) / len(full) >= 0.9 * limit and max(full) <= limit, full


@pytest.mark.parametrize("offset_ms", [400, -300])
async def test_windows_follow_the_exchanges_clock_measured_from_exchange_info(offset_ms: int) -> None:
    """The exchange's clock is `offset_ms` off ours, so its windows turn at other moments: the
    limiter takes the offset from exchangeInfo's serverTime, behind the exchange's clock by at most
    the round trip (never ahead: a turn before the exchange's would send into its full window),
    and stays under the limit in every one of the exchange's windows."""
    limit = 300
    config = SimulatorConfig(symbols=5, window_s=1, weight_limit=limit, clock_offset_ms=offset_ms)
    async with binance(config, safety_margin=0.05, max_in_flight=8) as (sim, adapter, _):
        await adapter.exchange_info()
        assert 0 <= offset_ms / 1000 - adapter.limiter.offset_s + 1e-6 < 0.2  # behind it, never ahead
        now = M1.floor(sim.now_ms())
        await asyncio.gather(*(adapter.fetch_candles("BTCUSDT", M1, now - 60_000, now) for _ in range(800)))
        assert adapter.metrics.throttled == 0 and sim.stats()["throttled"] == 0
        windows = sim.stats()["by_client"]["127.0.0.1"]["windows"]  # type: ignore[index]
        # Never over in any of its windows (how full each one gets depends on how busy the machine is).
        assert max(windows.values()) <= limit, windows


async def test_windows_that_lag_the_exchanges_catch_up_on_the_first_count_from_its_next_window() -> None:
    """The offset was read 0.3 s late (a busy event loop), so our windows turn 0.3 s after the
    exchange's. Requests sent in our window's last 0.15 s are counted in the exchange's next one and
    answered before our turn: unless ours turns on their counts, our next window spends a whole
    budget beside them (40 + 94 = 134 > 100: 429s)."""
    config = SimulatorConfig(symbols=5, window_s=1, weight_limit=100, latency_ms=(10.0, 10.0))
    async with binance(config, safety_margin=0.05, max_in_flight=64) as (sim, adapter, _):
        await adapter.exchange_info()
        lim, terms = adapter.limiter, adapter.limiter.terms
        lim.follow(replace(terms, offset_s=terms.offset_s - 0.3, slack_s=terms.slack_s + 0.3))
        now = M1.floor(sim.now_ms())

        async def burst(at: float, requests: int) -> None:
            await asyncio.sleep(at - lim.clock())
            await asyncio.gather(*(adapter.fetch_candles("BTCUSDT", M1, now - 60_000, now) for _ in range(requests)))

        start = lim.window_end(int(lim.clock() + lim.offset_s))  # our next window: 0.3 s after the exchange's
        await burst(start + 0.1, 20)  # the exchange's window too
        await burst(start + 0.85, 20)  # the exchange's next one already
        await burst(start + 1.01, 48)  # where our next window would begin without catching up
        assert sim.stats()["throttled"] == 0
        windows = sim.stats()["by_client"]["127.0.0.1"]["windows"]  # type: ignore[index]
        assert max(windows.values()) <= lim.budget, windows
        assert 0.1 < lim.offset_s - (terms.offset_s - 0.3) <= 0.3  # caught up, never past the measurement


async def test_another_client_on_our_ip_slows_us_down_through_the_header() -> None:
    limit = 400
    async with binance(SimulatorConfig(symbols=5, window_s=1, weight_limit=limit)) as (
        sim,
        adapter,
        base_url,
    ):
        await adapter.exchange_info()
        done = asyncio.Event()

        async def other_process() -> None:  # spends 160 of the 400 at the start of every window
            async with httpx.AsyncClient(base_url=base_url) as other:
                while not done.is_set():
                    now = sim.wall()
                    await asyncio.sleep(int(now) + 1.01 - now)
                    await asyncio.gather(other.get("/api/v3/ticker/24hr"), other.get("/api/v3/ticker/24hr"))

        spender = asyncio.create_task(other_process())
        await asyncio.sleep(0.5)
        now = M1.floor(sim.now_ms())
        await asyncio.gather(*(adapter.fetch_candles("ETHUSDT", M1, now - 60_000, now) for _ in range(400)))
        done.set()
        await spender
        assert adapter.metrics.throttled == 0 and sim.stats()["throttled"] == 0
        ours = _weights_by_window(sim, 1, lambda p: p == "/api/v3/klines")
        theirs = _weights_by_window(sim, 1, lambda p: p == "/api/v3/ticker/24hr")
        assert len(ours) >= 2 and set(theirs) == {160}
        # Alone we would spend the whole budget (360) each window and be throttled with theirs; the
        # header made us leave room for them. A request or two granted before the first answer of a
        # window reveals their spending may eat into our safety margin, never past the limit.
        assert all(w + 160 <= limit for w in ours) and sum(ours) / len(ours) <= adapter.limiter.budget - 160 + 8, ours


async def test_ccxt_parses_the_simulators_klines_like_our_adapter() -> None:
    async with binance(pinned()) as (_, adapter, base_url):
        api = f"{base_url}/api/v3"
        exchange = ccxt.binance({"options": {"fetchMarkets": ["spot"], "fetchCurrencies": False}})
        for key in ("public", "private", "v1"):
            exchange.urls["api"][key] = api
        start = OPEN - 50 * 60_000
        rows = await asyncio.to_thread(exchange.fetch_ohlcv, "ETH/USDT", "1m", start, 51)
        ours = (await adapter.fetch_candles("ETHUSDT", M1, start)).candles()
        assert rows == [[c.timestamp, c.open, c.high, c.low, c.close, c.volume] for c in ours]


async def test_make_adapter_names() -> None:
    for name, eid in (("binance", 2), ("binance_us", 3), ("coinbase", 1)):
        adapter = make_adapter(name, options())
        assert (adapter.name, adapter.exchange_id) == (name, eid)
        await adapter.close()
    with pytest.raises(UsageError, match="unknown exchange 'kraken'"):
        make_adapter("kraken", options())
