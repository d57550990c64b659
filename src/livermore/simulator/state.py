"""The state behind the exchange simulator: configuration, market clock, faults, rate rules, counters.

The ASGI app (`app.py`) is a thin HTTP face over this object, so tests can read the ground truth
and the counters in-process and change the clock and the faults while it serves.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from livermore.models import Candle, Timeframe
from livermore.simulator.limits import ClientState, RateRule, TokenBuckets, Verdict, WeightWindows
from livermore.simulator.market import Market, base_names, make_asset


class Faults(BaseModel):
    """Faults injected before normal handling; all can be changed while the simulator runs."""

    latency_ms: tuple[float, float] = (0.0, 0.0)
    error_rate: float = Field(0.0, ge=0, le=1, description="share of requests answered 500/503")
    timeout_rate: float = Field(0.0, ge=0, le=1, description="share of requests that hang for timeout_s")
    malformed_rate: float = Field(0.0, ge=0, le=1, description="share answered 200 with a garbage body")
    timeout_s: float = 30.0
    symbol_errors: dict[str, int] = Field(default_factory=dict, description="symbol -> HTTP status")
    outages: dict[str, tuple[int, int]] = Field(
        default_factory=dict,
        description="symbol -> [from, to) open times (ms) served without a candle: an outage, or a stopped feed",
    )
    zero_close: list[str] = Field(
        default_factory=list, description="symbols whose candles are served with close 0 (a broken feed)"
    )
    force_429: int = Field(0, ge=0, description="the next N requests get 429")
    force_429_retry_after_s: int = Field(1, ge=1)


class SimulatorConfig(Faults):
    """What to simulate; the inherited fault fields are the initial faults."""

    exchange: Literal["binance", "coinbase"] = "binance"
    symbols: int = Field(50, ge=1)
    seed: int = 1
    window_s: float = Field(60.0, gt=0, description="Binance weight window, whole seconds")
    weight_limit: int = Field(6000, ge=1)
    coinbase_rate_per_s: float = Field(10.0, gt=0)
    burst: int = Field(15, ge=1)
    ban_s: int = Field(120, ge=1)
    no_trade_symbols: list[str] = Field(default_factory=list)
    listings: dict[str, int] = Field(default_factory=dict, description="symbol -> listing time (ms)")
    clock_offset_ms: int = 0
    fixed_time_ms: int | None = None

    @model_validator(mode="after")
    def _whole_second_window(self) -> SimulatorConfig:
        if self.window_s != int(self.window_s):
            raise ValueError("window_s must be a whole number of seconds (Binance reports it as intervalNum)")
        return self


@dataclass(frozen=True, slots=True)
class Listing:
    """One symbol as this exchange names it."""

    symbol: str
    base: str
    quote: str


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One exchange request as the simulator saw it (wall time in epoch seconds)."""

    at: float
    client: str
    path: str
    status: int
    weight: int


class Simulator:
    """One simulated exchange. `wall` is real time; `exchange_s()` the exchange's clock (wall time
    plus the offset: rate windows, serverTime); `now_ms()` the market clock (the same, unless pinned)."""

    def __init__(self, config: SimulatorConfig, *, wall: Callable[[], float] = time.time):
        self.config = config
        self.wall = wall
        self.faults = Faults(**config.model_dump(include=set(Faults.model_fields)))
        self.clock_offset_ms = config.clock_offset_ms
        self.fixed_time_ms = config.fixed_time_ms
        bases = base_names(config.symbols, config.seed)
        self.listings = {s.symbol: s for s in (self._listing(b) for b in bases)}
        unknown = (set(config.no_trade_symbols) | set(config.listings)) - set(self.listings)
        if unknown:
            raise ValueError(f"unknown symbols in config: {sorted(unknown)}")
        self.market = Market(
            [make_asset(b, rank, config.seed) for rank, b in enumerate(bases)],
            no_trade={self.listings[s].base for s in config.no_trade_symbols},
            listings={self.listings[s].base: t for s, t in config.listings.items()},
        )
        self.rule: RateRule = (
            WeightWindows(config.window_s, config.weight_limit, config.ban_s)
            if config.exchange == "binance"
            else TokenBuckets(config.coinbase_rate_per_s, config.burst)
        )
        self.rng = random.Random(config.seed)
        self.clients: dict[str, ClientState] = {}
        self.log: deque[RequestRecord] = deque(maxlen=100_000)

    def _listing(self, base: str) -> Listing:
        if self.config.exchange == "binance":
            return Listing(f"{base}USDT", base, "USDT")
        return Listing(f"{base}-USD", base, "USD")

    # -- market clock ---------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The market clock: fixed if set, else the exchange's own."""
        if self.fixed_time_ms is not None:
            return self.fixed_time_ms
        return int(self.exchange_s() * 1000)

    def exchange_s(self) -> float:
        """The exchange's own clock (epoch seconds): its rate windows, its bans and its serverTime.
        Wall time plus the offset; pinning the market clock does not stop it (a pin freezes which
        candles exist, not the exchange)."""
        return self.wall() + self.clock_offset_ms / 1000

    def set_clock(self, *, offset_ms: int | None = None, fixed_time_ms: int | None = None) -> None:
        """Shift the market clock, or pin it (`fixed_time_ms`); with neither, back to wall time."""
        self.clock_offset_ms = offset_ms or 0
        self.fixed_time_ms = fixed_time_ms

    def set_faults(self, **changes: object) -> None:
        """Change some fault fields (validated)."""
        self.faults = Faults.model_validate({**self.faults.model_dump(), **changes})

    # -- ground truth ---------------------------------------------------------------------------

    def candles(self, symbol: str, timeframe: Timeframe, start_ms: int, end_ms: int) -> list[Candle]:
        """The candles this exchange serves with open time in [start_ms, end_ms], ascending: Binance
        includes zero-volume no-trade intervals, Coinbase omits them; nothing before the listing or
        after the current (open) interval, nor inside the symbol's outage."""
        listing = self.listings[symbol]
        now = self.now_ms()
        tf = timeframe
        first = max(-(-start_ms // tf.ms) * tf.ms, self.market.first_open(listing.base, tf))
        last = min(tf.floor(end_ms), tf.floor(now))
        down_from, down_to = self.faults.outages.get(symbol, (0, 0))
        out = []
        for t in range(first, last + 1, tf.ms):
            if self.config.exchange == "coinbase" and self.market.is_empty(listing.base, tf, t):
                continue
            if down_from <= t < down_to:
                continue
            out.append(self.market.candle(listing.base, symbol, tf, t, now))
        if symbol in self.faults.zero_close:
            out = [dataclasses.replace(c, close=0.0) for c in out]
        return out

    # -- rate rules and counters ----------------------------------------------------------------

    def client(self, ip: str) -> ClientState:
        return self.clients.setdefault(ip, ClientState())

    def admit(self, ip: str, weight: int) -> Verdict | None:
        """Count a request and apply the rate rule (and the `force_429` fault); None = go ahead."""
        client = self.client(ip)
        client.requests += 1
        client.weight += weight
        now = self.exchange_s()
        verdict = self.rule.admit(client, weight, now)
        if verdict is None and self.faults.force_429 > 0:
            self.faults.force_429 -= 1
            verdict = self.rule.throttle(client, self.faults.force_429_retry_after_s, now)
        return verdict

    def used_weight(self, ip: str) -> int:
        """The client's weight in the current Binance window (the X-MBX-USED-WEIGHT value); 0 on
        Coinbase, which counts requests, not weight."""
        if not isinstance(self.rule, WeightWindows):
            return 0
        return self.rule.used(self.client(ip), self.exchange_s())

    def record(self, ip: str, path: str, status: int, weight: int, at: float) -> None:
        self.log.append(RequestRecord(at, ip, path, status, weight))

    def stats(self) -> dict[str, object]:
        """Totals, and per client IP the same counts plus the weight of each window (Binance: as
        the rate rule counted it, by window index = epoch s // `window_s`; Coinbase: requests per
        second) and the largest of them."""
        clients = self.clients.values()
        return {
            "requests": sum(c.requests for c in clients),
            "weight": sum(c.weight for c in clients),
            "throttled": sum(c.throttled for c in clients),
            "banned": sum(c.banned for c in clients),
            "window_s": self.rule.window_s,
            "by_client": {ip: c.as_dict() for ip, c in self.clients.items()},
        }

    def reset(self) -> None:
        """Forget counters, windows, bans and the request log."""
        self.clients.clear()
        self.log.clear()
