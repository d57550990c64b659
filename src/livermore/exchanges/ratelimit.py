"""Client-side rate limiters: spend the exchange's budget fully, never exceed it, obey pauses.

Both are asyncio-only (no threads); `clock` (epoch seconds) and `sleep` are injectable for tests.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_INTERVAL_S = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}


@dataclass(frozen=True, slots=True)
class Grant:
    """Permission to send one request: when it was granted, in which window, at what weight, and
    how much of ours in that window had been answered by then (so counted by the exchange before
    this request reached it)."""

    at: float
    weight: int
    window: int = 0
    answered_before: int = 0


@dataclass(frozen=True, slots=True)
class WindowTerms:
    """How the exchange counts weight: `limit` per fixed `window_s` window of its clock, which runs
    `offset_s` ahead of ours, or up to `slack_s` more (the round trip of the measurement)."""

    limit: int
    window_s: float
    offset_s: float = 0.0
    slack_s: float = 0.0


def weight_terms(rate_limits: Iterable[Mapping[str, Any]], offset_s: float, slack_s: float = 0.0) -> WindowTerms:
    """The terms of exchangeInfo's `rateLimits` (its REQUEST_WEIGHT entry; the tightest if several)."""
    weights = [r for r in rate_limits if r.get("rateLimitType") == "REQUEST_WEIGHT"]
    if not weights:
        raise ValueError("exchangeInfo has no REQUEST_WEIGHT rate limit")
    tightest = min(weights, key=lambda r: r["limit"] / (_INTERVAL_S[r["interval"]] * r["intervalNum"]))
    return WindowTerms(
        int(tightest["limit"]), _INTERVAL_S[tightest["interval"]] * int(tightest["intervalNum"]), offset_s, slack_s
    )


class Limiter(Protocol):
    async def acquire(self, weight: int = 1) -> Grant:
        """Wait until `weight` may be spent."""
        ...

    def release(self, grant: Grant) -> None:
        """The granted request is over (answered or failed)."""
        ...

    async def pause_until(self, epoch_s: float) -> None:
        """Grant nothing before `epoch_s` (429 Retry-After, 418 ban). Awaitable: a shared limiter
        writes the pause to Redis before the request that drew it goes on."""
        ...


class _Pause:
    """The shared 'nothing before t' rule."""

    def __init__(self, clock: Clock, sleep: Sleep):
        self.clock = clock
        self.sleep = sleep
        self.paused_until = 0.0

    def hold(self, epoch_s: float) -> None:
        """Grant nothing in this process before `epoch_s`."""
        self.paused_until = max(self.paused_until, epoch_s)

    async def pause_until(self, epoch_s: float) -> None:
        self.hold(epoch_s)

    async def wait(self) -> float:
        """Sleep out any pause; returns the current time."""
        while (now := self.clock()) < self.paused_until:
            await self.sleep(self.paused_until - now)
        return now


class WeightLimiter(_Pause):
    """Binance REQUEST_WEIGHT: fixed windows aligned to the exchange's clock (ours plus `offset_s`,
    once `follow` has it), budget = limit * (1 - safety_margin).

    Three things make the local count honest. Our windows turn on the exchange's or after, never
    before, and catch up with it as soon as an answer's count shows it turned (see `observe`). A
    request still in flight when a window turns may be counted by the server in the new window, so
    the new window starts charged with the weight in flight (exact: every request the server counts
    late is among them). And the newest answer's `X-MBX-USED-WEIGHT-*` (the IP's count, other
    processes included) less our weight already answered in this window bounds what others on our
    IP spent. It over-counts by our requests the server has seen but not yet answered, so the bound
    is taken afresh from every answer (not the largest ever seen) and waiting requests look again
    as answers arrive, rather than sleeping to the end of the window on an estimate that the next
    answer corrects.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        safety_margin: float,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ):
        super().__init__(clock, sleep)
        self.safety_margin = safety_margin
        self._window = -1
        self._carried = 0  # ours charged to this window when it began (in flight then, or see `follow`)
        self._granted = 0  # ours in this window, including weight carried in flight from the last
        self._answered = 0  # ours granted in this window and answered
        self._others = 0  # what others on our IP spent in this window, from the newest answer
        self._in_flight = 0
        self.limit, self.window_s = limit, window_s
        self.offset_s = 0.0  # the exchange's clock minus ours
        self._latest_offset_s = 0.0  # the most it can be, by the measurement

    @property
    def terms(self) -> WindowTerms:
        return WindowTerms(self.limit, self.window_s, self.offset_s, self._latest_offset_s - self.offset_s)

    def follow(self, terms: WindowTerms) -> None:
        """Count as the exchange counts: `terms`, e.g. from exchangeInfo. What was granted in the
        window so far is charged to the window now current under them (carried, as weight in
        flight at a turn is): the exchange counted it in its own windows, quite likely in this one.
        Without the offset, its windows would turn at other moments than ours, and ours counted
        against it (or its weight header) would straddle two of them."""
        if terms != self.terms:
            self.limit, self.window_s, self.offset_s = terms.limit, terms.window_s, terms.offset_s
            self._latest_offset_s = terms.offset_s + terms.slack_s
            self._window = self._index(self.clock())
            self._carried = self._granted
            self._answered = 0  # in which of the exchange's windows is not known: no evidence of a turn

    @property
    def budget(self) -> int:
        return math.floor(self.limit * (1 - self.safety_margin))

    @property
    def used(self) -> int:
        """Weight counted against the current window: ours plus what others may have spent."""
        self._roll(self.clock())
        return self._granted + self._others

    def _index(self, now: float) -> int:
        return int((now + self.offset_s) // self.window_s)

    def _roll(self, now: float) -> int:
        window = self._index(now)
        if window != self._window:
            self._window = window
            self._carried = self._in_flight
            self._granted, self._answered, self._others = self._in_flight, 0, 0
        return window

    def window_end(self, window: int) -> float:
        """When `window` ends (epoch seconds, our clock)."""
        return (window + 1) * self.window_s - self.offset_s

    def _check(self, weight: int) -> None:
        if weight > self.budget:
            raise ValueError(f"weight {weight} exceeds the whole budget {self.budget}")

    def _charge(self, now: float, weight: int, window: int) -> Grant:
        """Count a grant as ours, in flight."""
        self._granted += weight
        self._in_flight += weight
        return Grant(now, weight, window, self._answered)

    async def acquire(self, weight: int = 1) -> Grant:
        self._check(weight)
        while True:
            now = await self.wait()
            window = self._roll(now)
            if self._granted + self._others + weight <= self.budget:
                return self._charge(now, weight, window)
            # Look again soon: answers in flight may lower the estimate of what others spent.
            await self.sleep(min(self.window_end(window) - now, max(0.02, self.window_s / 50)))

    def observe(self, used_weight: int, grant: Grant) -> int | None:
        """Take the server's count from the answer to `grant` (call before `release`); returns the
        window it is the count of, None when unknown: the request was granted in an earlier window,
        and the server may have counted it there.

        A count below what the server had already answered of ours in the grant's window, plus the
        request itself, is the count of a window the server began since: its window turned before
        ours (our offset, measured at an answer's arrival, lags it by up to that answer's last leg
        and whatever delayed its reading). Ours then turns at once, never past the latest offset
        the measurement allows: left to turn later, the weight we grant meanwhile would be counted
        in the server's new window and in our old one, so the new one could be spent twice."""
        now = self.clock()
        window = self._roll(now)
        if window != grant.window:
            return None
        if used_weight < grant.answered_before + grant.weight:
            window = self._catch_up(now)  # the count is then the new window's, ours all in flight
        self._others = max(0, used_weight - self._answered - grant.weight)
        return window

    def _catch_up(self, now: float) -> int:
        """Turn to the next window now (the server has), within the offset's bounds."""
        turned = (self._window + 1) * self.window_s - now + 1e-6
        self.offset_s = min(max(self.offset_s, turned), self._latest_offset_s)
        return self._roll(now)

    def release(self, grant: Grant) -> None:
        """The request is over; a window that turned while it was in flight keeps it charged."""
        if self._roll(self.clock()) == grant.window:
            self._answered += grant.weight
        self._in_flight -= grant.weight


class TokenBucket(_Pause):
    """Coinbase: `rate_per_s` requests per second with bursts up to `burst`; starts full."""

    def __init__(self, rate_per_s: float, burst: float, *, clock: Clock = time.time, sleep: Sleep = asyncio.sleep):
        super().__init__(clock, sleep)
        self.rate = rate_per_s
        self.burst = burst
        self._tokens = burst
        self._at = clock()

    def _check(self, weight: int) -> None:
        if weight > self.burst:
            raise ValueError(f"cost {weight} exceeds the burst {self.burst}")

    def _refill(self, now: float) -> float:
        """The tokens held at `now`."""
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._at) * self.rate)
        self._at = max(self._at, now)
        return self._tokens

    def _charge(self, now: float, weight: int) -> Grant:
        self._refill(now)
        self._tokens -= weight
        return Grant(now, weight)

    async def acquire(self, weight: int = 1) -> Grant:
        self._check(weight)
        while True:
            now = await self.wait()
            tokens = self._refill(now)
            if tokens >= weight - 1e-9:  # float dust would otherwise mean sleeping ~0 forever
                return self._charge(now, weight)
            await self.sleep((weight - tokens) / self.rate)

    def release(self, grant: Grant) -> None:
        """Nothing to do: a spent token stays spent."""
