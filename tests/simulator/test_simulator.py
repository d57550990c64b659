"""The simulator itself: deterministic ground truth, wire format, rate rules, /sim controls."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import httpx
from hypothesis import example, given
from hypothesis import strategies as st

from livermore.models import Timeframe
from livermore.simulator import Simulator, SimulatorConfig, serve_simulator
from livermore.simulator.limits import Verdict
from livermore.simulator.market import decimal_str

OPEN = 1_750_000_000_000 - 1_750_000_000_000 % 3_600_000


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 8))
@example(701436952.6, 8)
@example(1e-5, 8)
@example(-0.0, 2)
@example(2.5e16, 8)
@example(0.125, 2)
def test_decimal_str_is_the_rounded_value_exactly(x: float, places: int) -> None:
    """The padded repr agrees with Decimal's formatting of the rounded float, for every float."""
    assert decimal_str(x, places) == f"{Decimal(repr(round(x, places))):.{places}f}"


def test_ground_truth_is_deterministic_positive_and_seeded() -> None:
    a = Simulator(SimulatorConfig(symbols=60, fixed_time_ms=OPEN))
    b = Simulator(SimulatorConfig(symbols=60, fixed_time_ms=OPEN + 5_000_000))
    other_seed = Simulator(SimulatorConfig(symbols=60, seed=2, fixed_time_ms=OPEN))
    assert len(a.listings) == 60 and list(a.listings)[:3] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    for tf in (Timeframe.M1, Timeframe.H1, Timeframe.D1):
        span = 300 * tf.ms
        closed = a.candles("ETHUSDT", tf, tf.floor(OPEN) - span, tf.floor(OPEN) - tf.ms)
        assert len(closed) == 300 and closed == b.candles("ETHUSDT", tf, tf.floor(OPEN) - span, tf.floor(OPEN) - tf.ms)
        assert all(0 < c.low <= min(c.open, c.close) and max(c.open, c.close) <= c.high for c in closed)
        assert closed != other_seed.candles("ETHUSDT", tf, tf.floor(OPEN) - span, tf.floor(OPEN) - tf.ms)
    btc = a.candles("BTCUSDT", Timeframe.D1, OPEN - 3 * 365 * 86_400_000, OPEN)
    assert min(c.low for c in btc) > 10_000 and max(c.high for c in btc) < 500_000


def test_an_outage_serves_no_candle_in_its_span_on_either_exchange() -> None:
    m5 = Timeframe.M5
    down = (OPEN - 10 * m5.ms, OPEN - 7 * m5.ms)  # 3 intervals
    for exchange, symbol in (("binance", "ETHUSDT"), ("coinbase", "ETH-USD")):
        sim = Simulator(SimulatorConfig(exchange=exchange, symbols=3, fixed_time_ms=OPEN, outages={symbol: down}))
        served = [c.timestamp for c in sim.candles(symbol, m5, OPEN - 20 * m5.ms, OPEN)]
        assert served == [t for t in range(OPEN - 20 * m5.ms, OPEN + 1, m5.ms) if not down[0] <= t < down[1]]
        assert len(sim.candles(symbol.replace("ETH", "BTC"), m5, OPEN - 20 * m5.ms, OPEN)) == 21


async def test_binance_wire_rate_rules_and_controls() -> None:
    async with (
        serve_simulator(SimulatorConfig(symbols=3, window_s=30, weight_limit=30, ban_s=60)) as s,
        httpx.AsyncClient(base_url=s.base_url) as c,
    ):
        info = (await c.get("/api/v3/exchangeInfo")).json()
        assert info["rateLimits"][0] == {
            "rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 30, "limit": 30,
        }  # fmt: skip
        if (into := time.time() % 30) > 20:  # the 30 s window is aligned to wall time: do not straddle it
            await asyncio.sleep(30 - into + 0.05)
        await c.post("/sim/reset")
        r = await c.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1h", "limit": 2})
        row = r.json()[0]
        assert r.headers["X-MBX-USED-WEIGHT-30S"] == "2" and len(row) == 12
        assert isinstance(row[0], int) and isinstance(row[1], str) and row[11] == "0"
        bad = await c.get("/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "7m"})
        assert (bad.status_code, bad.json()) == (400, {"code": -1120, "msg": "Invalid interval."})
        statuses = [(await c.get("/api/v3/klines", params={"symbol": "ETHUSDT", "interval": "1m"})).status_code
                    for _ in range(14)]  # fmt: skip
        assert statuses[-1] == 429 and statuses.count(429) == 1  # the 14th is over the 30 weight
        await asyncio.sleep(0.6)  # past the grace for requests already on their way
        again = await c.get("/api/v3/klines", params={"symbol": "ETHUSDT", "interval": "1m"})
        assert again.status_code == 418  # kept sending after a 429
        stats = (await c.get("/sim/stats")).json()
        assert stats["throttled"] == 1 and stats["banned"] >= 1 and "127.0.0.1" in stats["by_client"]
        await c.post("/sim/clock", json={"fixed_time_ms": OPEN})
        await c.post("/sim/faults", json={"malformed_rate": 1.0})
        await c.post("/sim/reset")
        assert s.simulator.now_ms() == OPEN and s.simulator.faults.malformed_rate == 1.0
        garbage = await c.get("/api/v3/time")
        assert (garbage.status_code, garbage.content) == (200, b"garbage{")


def test_rate_rules_and_counters_are_kept_per_client_ip() -> None:
    wall = [1_000.5]  # 1 s into the 10 s window 100
    sim = Simulator(SimulatorConfig(window_s=10, weight_limit=30, ban_s=60), wall=lambda: wall[0])
    one, two = "127.0.0.1", "127.0.0.2"
    assert [sim.admit(one, 10) for _ in range(3)] == [None] * 3
    assert [sim.admit(two, 10) for _ in range(3)] == [None] * 3  # 60 from the loopback, 30 per IP: no 429
    assert sim.admit(one, 2) == Verdict(429, 10) and sim.used_weight(two) == 30
    wall[0] += 2  # past the grace: sending during Retry-After is a ban, of that IP alone
    assert sim.admit(one, 2) == Verdict(418, 60)
    wall[0] += 8  # window 101
    assert sim.admit(two, 10) is None and sim.admit(one, 10) == Verdict(418, 52)
    stats = sim.stats()
    assert (stats["throttled"], stats["banned"], stats["weight"], stats["window_s"]) == (1, 2, 84, 10)
    assert stats["by_client"] == {
        one: {"requests": 6, "weight": 44, "throttled": 1, "banned": 2, "peak_window_weight": 32,
              "windows": {"100": 32}},
        two: {"requests": 4, "weight": 40, "throttled": 0, "banned": 0, "peak_window_weight": 30,
              "windows": {"100": 30, "101": 10}},
    }  # fmt: skip


def test_coinbase_counts_requests_per_second_per_ip() -> None:
    wall = [2_000.0]
    sim = Simulator(SimulatorConfig(exchange="coinbase", coinbase_rate_per_s=10, burst=3), wall=lambda: wall[0])
    verdicts = [sim.admit(ip, 1) for ip in ("127.0.0.1", "127.0.0.2") * 4]
    assert verdicts.count(None) == 6 and sim.stats()["throttled"] == 2  # a burst of 3 per IP
    clients = sim.stats()["by_client"]
    assert isinstance(clients, dict)
    assert {ip: c["windows"] for ip, c in clients.items()} == {"127.0.0.1": {"2000": 4}, "127.0.0.2": {"2000": 4}}


async def test_a_client_bound_to_another_loopback_address_is_another_ip() -> None:
    bound = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with (
        serve_simulator(SimulatorConfig(symbols=3, window_s=3600)) as s,
        httpx.AsyncClient(base_url=s.base_url) as one,
        httpx.AsyncClient(base_url=s.base_url, transport=bound) as two,
    ):
        if (into := time.time() % 3600) > 3590:  # the window is aligned to wall time: do not straddle it
            await asyncio.sleep(3600 - into + 0.05)
        assert (await one.get("/api/v3/exchangeInfo")).headers["X-MBX-USED-WEIGHT-1H"] == "20"
        assert (await two.get("/api/v3/exchangeInfo")).headers["X-MBX-USED-WEIGHT-1H"] == "20"
        assert (await two.get("/api/v3/ping")).headers["X-MBX-USED-WEIGHT-1H"] == "21"
        clients = (await one.get("/sim/stats")).json()["by_client"]
        assert {ip: (c["requests"], c["weight"]) for ip, c in clients.items()} == {
            "127.0.0.1": (1, 20),
            "127.0.0.2": (2, 21),
        }
