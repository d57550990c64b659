"""The simulator's server-side rate rules, per client IP, on wall time (never the market clock).

Binance: fixed weight windows aligned to wall time; over budget -> 429 until the window ends; sending
again before a 429's Retry-After -> 418 ban for `ban_s`, and every request during a ban -> 418.
A request arriving within `grace_s` of the 429 was already on its way when the 429 was sent (a
concurrent client cannot recall it): it gets another 429, not a ban.
Coinbase: a token bucket (rate, burst); empty -> 429; sending during a 429's Retry-After -> 429 again.
Each client IP also keeps what it spent per window (`ClientState.windows`): the weight a Binance
window counted, requests per second on Coinbase; the stats report them per IP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

_KEPT_WINDOWS = 3600  # per IP: an hour of 1 s windows


@dataclass(slots=True)
class ClientState:
    """Counters and rate state of one client IP."""

    requests: int = 0
    weight: int = 0
    throttled: int = 0
    banned: int = 0
    retry_after_until: float = 0.0  # a 429 told the client to wait until then
    throttled_at: float = 0.0  # when the last 429 was sent
    banned_until: float = 0.0
    windows: dict[int, int] = field(default_factory=dict)  # window index -> weight counted in it, the newest
    tokens: float = -1.0  # < 0: bucket not started yet
    tokens_at: float = 0.0

    def count(self, window: int, weight: int) -> int:
        """Add `weight` to `window`; returns the window's weight. Only the newest windows are kept."""
        total = self.windows[window] = self.windows.get(window, 0) + weight
        if len(self.windows) > _KEPT_WINDOWS:
            del self.windows[next(iter(self.windows))]
        return total

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "weight": self.weight,
            "throttled": self.throttled,
            "banned": self.banned,
            "peak_window_weight": max(self.windows.values(), default=0),
            "windows": {str(w): weight for w, weight in self.windows.items()},
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """A rejection: HTTP status (429 or 418) and Retry-After in whole seconds."""

    status: int
    retry_after: int


class RateRule(Protocol):
    window_s: float  # the length of the windows the stats count in

    def admit(self, client: ClientState, weight: int, now: float) -> Verdict | None: ...

    def throttle(self, client: ClientState, retry_after: int, now: float) -> Verdict:
        """Answer 429 with this Retry-After (also used by the `force_429` fault)."""
        ...


def _throttle(client: ClientState, retry_after: int, now: float) -> Verdict:
    client.throttled += 1
    client.throttled_at = now
    client.retry_after_until = max(client.retry_after_until, now + retry_after)
    return Verdict(429, retry_after)


class WeightWindows:
    """Binance's REQUEST_WEIGHT rule: `limit` per fixed `window_s` window, weight counted even when refused."""

    def __init__(self, window_s: float, limit: int, ban_s: int, grace_s: float = 0.5):
        self.window_s = window_s
        self.limit = limit
        self.ban_s = ban_s
        self.grace_s = grace_s

    def used(self, client: ClientState, now: float) -> int:
        return client.windows.get(int(now // self.window_s), 0)

    def admit(self, client: ClientState, weight: int, now: float) -> Verdict | None:
        if now < client.banned_until:
            client.banned += 1
            return Verdict(418, math.ceil(client.banned_until - now))
        if now < client.retry_after_until:
            if now - client.throttled_at <= self.grace_s:
                client.throttled += 1
                return Verdict(429, math.ceil(client.retry_after_until - now))
            client.banned += 1
            client.banned_until = now + self.ban_s
            return Verdict(418, self.ban_s)
        window = int(now // self.window_s)
        if client.count(window, weight) > self.limit:
            return self.throttle(client, math.ceil((window + 1) * self.window_s - now), now)
        return None

    def throttle(self, client: ClientState, retry_after: int, now: float) -> Verdict:
        return _throttle(client, retry_after, now)


class TokenBuckets:
    """Coinbase's public limit: `rate` requests/s with bursts up to `burst`."""

    window_s = 1.0  # requests per second, for the stats

    def __init__(self, rate_per_s: float, burst: int):
        self.rate = rate_per_s
        self.burst = burst

    def admit(self, client: ClientState, weight: int, now: float) -> Verdict | None:
        client.count(int(now // self.window_s), weight)
        if client.tokens < 0:
            client.tokens, client.tokens_at = float(self.burst), now
        client.tokens = min(self.burst, client.tokens + (now - client.tokens_at) * self.rate)
        client.tokens_at = now
        if now < client.retry_after_until:
            return self.throttle(client, math.ceil(client.retry_after_until - now), now)
        if client.tokens < 1:
            return self.throttle(client, max(1, math.ceil((1 - client.tokens) / self.rate)), now)
        client.tokens -= 1
        return None

    def throttle(self, client: ClientState, retry_after: int, now: float) -> Verdict:
        return _throttle(client, retry_after, now)
