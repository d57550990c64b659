"""The rate budget of one egress IP, kept in Redis, so that any number of processes sending from that
IP together stay under the exchange's limit.

The exchange counts per IP, not per process: each process alone at the limit would put N of them at
N times it. So every grant is one script call (EVALSHA) on keys named by exchange and egress label
(`keys.budget_*`): Binance weight in fixed windows, Coinbase a token bucket, and a pause that every
grant checks first, written by the process that drew a 429 or a 418.

Binance's windows follow Binance's clock, as the in-process WeightLimiter's do: the first process
of a host on the egress measures its offset from exchangeInfo's serverTime and leaves it in Redis
with the weight limit and window length (`terms`), so the processes of one IP name each window
alike and turn it at one instant, and a process starting counts even its exchangeInfo in the shared
window rather than under the public default no other process sees. The weight header of each answer
still corrects the shared count: the grant call after an answer raises it to the server's count
when that is larger (requests from outside our processes, or granted in-process while Redis was
away), so observing costs no call of its own.

The in-process limiters are the base classes and the fallback: a grant whose Redis call fails
(connection lost, timeout) is granted by the in-process rules instead, which keep counting our own
weight (and, on Binance, what the header says others spent) all along; Redis is left alone for a
second before it is asked again. An outage of Redis alone thus never stops the fetching.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from importlib import resources
from typing import Any

import orjson
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from livermore.connection import RedisClient
from livermore.exchanges.ratelimit import Clock, Grant, Sleep, TokenBucket, WeightLimiter, WindowTerms
from livermore.keys import budget_bucket_key, budget_pause_key, budget_terms_key, budget_window_key

log = logging.getLogger(__name__)

_LABEL = re.compile(r"[A-Za-z0-9._:-]+")  # no braces: the label sits inside the keys' hash tag
_OUTAGE_PROBE_S = 1.0  # after a failed call, grants stay in-process this long before Redis is asked again
_TERMS_TTL_S = 3600  # a host's agreed terms (its offset from the exchange's clock) are measured afresh after this


def check_egress(label: str) -> str:
    """`label` if it can name an egress in the budget's keys; ValueError otherwise."""
    if not _LABEL.fullmatch(label):
        raise ValueError(f"egress label {label!r}: use letters, digits and . _ : - only")
    return label


def _script(name: str) -> str:
    return resources.files("livermore.exchanges").joinpath("lua", name).read_text()


def _ms(epoch_s: float) -> int:
    return int(epoch_s * 1000)


def _stored_terms(stored: bytes | str | None) -> WindowTerms | None:
    """The terms kept in Redis; None for none, or for a value this version cannot read (measured
    afresh once it expires, rather than failing every start meanwhile)."""
    if stored is None:
        return None
    try:
        return WindowTerms(**orjson.loads(stored))
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True, slots=True)
class Reply:
    """A grant script's answer."""

    granted: bool
    used: int  # the window's weight after the call (Binance; 0 for the bucket)
    wait_s: float  # until the window ends, or until the bucket holds the cost again
    paused_until: float  # epoch seconds; 0 when no pause holds

    @classmethod
    def parse(cls, reply: list[int]) -> Reply:
        granted, used, wait_ms, paused_ms = reply
        return cls(bool(granted), int(used), wait_ms / 1000, paused_ms / 1000)


class SharedBudget:
    """One exchange's budget on one egress label: its keys, its scripts and the outage rule."""

    def __init__(self, redis: RedisClient, exchange_id: int, egress: str):
        """
        :param exchange_id: the exchange's own id (the registry's), whatever ids the cache uses:
            the limit belongs to the exchange.
        :param egress: names the IP the processes send from; those with one label share the budget.
        """
        self.exchange_id = exchange_id
        self.egress = check_egress(egress)
        self.pause_key = budget_pause_key(exchange_id, egress)
        self._terms_key = budget_terms_key(exchange_id, egress, socket.gethostname())
        self._redis = redis
        self._window = redis.register_script(_script("budget_window.lua"))
        self._bucket = redis.register_script(_script("budget_bucket.lua"))
        self._pause = redis.register_script(_script("budget_pause.lua"))
        self._down_until: float | None = None  # in an outage: when to ask Redis again

    async def window(
        self, window: int, ends: float, weight: int, budget: int, now: float, *, floor: int, carry: int
    ) -> Reply | None:
        """Grant `weight` from `window` (ending at `ends`) if the shared count leaves room; None
        when Redis cannot be asked."""
        keys = [budget_window_key(self.exchange_id, self.egress, window), self.pause_key]
        reply = await self._call(self._window, keys, [weight, budget, _ms(now), _ms(ends), floor, carry], now)
        return None if reply is None else Reply.parse(reply)

    async def bucket(self, cost: int, rate_per_s: float, burst: float, now: float) -> Reply | None:
        """Take `cost` tokens from the shared bucket if it holds them; None when Redis cannot be asked."""
        keys = [budget_bucket_key(self.exchange_id, self.egress), self.pause_key]
        reply = await self._call(self._bucket, keys, [cost, rate_per_s / 1000, burst, _ms(now)], now)
        return None if reply is None else Reply.parse(reply)

    async def terms(self) -> WindowTerms | None:
        """The terms this host's processes on the egress follow, if one measured them; None when
        none did, or Redis cannot be asked."""
        try:
            return _stored_terms(await self._redis.get(self._terms_key))
        except (RedisConnectionError, RedisTimeoutError):
            return None

    async def agree(self, measured: WindowTerms) -> WindowTerms:
        """The terms every process of this host on the egress follows: the limit and window just
        measured (the exchange's answer is the authority), at the first process's clock offset (and
        its bound);
        `measured` itself when Redis cannot be asked."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(self._terms_key, orjson.dumps(asdict(measured)), nx=True, ex=_TERMS_TTL_S)
                pipe.get(self._terms_key)
                _, stored = await pipe.execute()
        except (RedisConnectionError, RedisTimeoutError):
            return measured
        agreed = _stored_terms(stored)
        return measured if agreed is None else replace(measured, offset_s=agreed.offset_s, slack_s=agreed.slack_s)

    async def pause(self, until: float, now: float) -> None:
        """Pause every process on the egress until `until` (never shortening a longer pause)."""
        await self._call(self._pause, [self.pause_key], [_ms(until), _ms(now)], now)

    async def _call(self, script: AsyncScript, keys: list[str], args: list[Any], now: float) -> Any:
        """The script's reply, or None in an outage (said once when it starts and once when it ends)."""
        if self._down_until is not None and now < self._down_until:
            return None
        try:
            reply = await script(keys=keys, args=args)
        except (RedisConnectionError, RedisTimeoutError) as e:
            if self._down_until is None:
                log.warning("shared rate budget %s: Redis unreachable (%s); limiting in-process meanwhile", keys[0], e)
            self._down_until = now + _OUTAGE_PROBE_S
            return None
        if self._down_until is not None:
            log.warning("shared rate budget %s: Redis is back; limiting with the other processes again", keys[0])
            self._down_until = None
        return reply


async def _grant_shared(
    limiter: WeightLimiter | TokenBucket,
    ask: Callable[[float], Awaitable[Reply | None]],
    charge: Callable[[float], Grant],
    fallback: Callable[[], Awaitable[Grant]],
) -> Grant:
    """The shared grant loop: sleep out any pause we know of, ask Redis, then take the grant, learn
    the egress's pause, or wait for the budget; the in-process rules grant when Redis cannot."""
    while True:
        now = await limiter.wait()
        reply = await ask(now)
        if reply is None:
            return await fallback()
        if reply.granted:
            return charge(now)
        if reply.paused_until > now:
            limiter.hold(reply.paused_until)  # another process drew a 429 or a 418: wait it out here too
        else:
            await limiter.sleep(reply.wait_s)


class SharedWeightLimiter(WeightLimiter):
    """Binance: the egress's weight windows in Redis; this process's own count (and the weight
    header's word on others) is kept as the in-process WeightLimiter keeps it, for the fallback and
    for viewers.

    The sum is kept as in-process: weight still in flight when a window turns is charged to the new
    one too (sent once, with this process's first grant call in it), and the newest answer's header
    raises the shared count to the server's, never lowers it. One gap is left between processes: a
    process's carried weight reaches the shared count with its first call in the new window, so the
    others may spend the window before it, and the server may count that much (at most what the
    process had in flight at the turn) beyond the budget. The safety margin absorbs it: 10% of 6000
    against 64 (32 klines requests) a process; and a request answered before the turn carries nothing.
    """

    def __init__(
        self, shared: SharedBudget, limit: int, window_s: float, *, safety_margin: float, clock: Clock, sleep: Sleep
    ):
        super().__init__(limit, window_s, safety_margin=safety_margin, clock=clock, sleep=sleep)
        self.shared = shared
        self._carry_sent = (0.0, -1)  # (length, index) of the window whose shared count has our carried weight
        self._floor = (-1, 0)  # (window, the server's count from the newest answer in it)
        self._shared_used = (-1, 0)  # (window, its shared count at our last grant)

    @property
    def used(self) -> int:
        """Weight counted against the current window: the shared count if we know it, at least ours."""
        window, local = self._roll(self.clock()), super().used
        return max(local, self._shared_used[1]) if self._shared_used[0] == window else local

    async def acquire(self, weight: int = 1) -> Grant:
        self._check(weight)
        in_process = super().acquire

        def charge(now: float) -> Grant:
            return self._charge(now, weight, self._roll(now))

        return await _grant_shared(self, lambda now: self._ask(now, weight), charge, lambda: in_process(weight))

    async def _ask(self, now: float, weight: int) -> Reply | None:
        window = self._roll(now)
        floor = self._floor[1] if self._floor[0] == window else 0
        carry = self._carried if self._carry_sent != (self.window_s, window) else 0
        reply = await self.shared.window(
            window, self.window_end(window), weight, self.budget, now, floor=floor, carry=carry
        )
        if reply is not None:
            self._carry_sent = (self.window_s, window)
            self._shared_used = (window, reply.used)
        return reply

    def observe(self, used_weight: int, grant: Grant) -> int | None:
        """As in-process, and the server's count goes to Redis with the next grant call."""
        window = super().observe(used_weight, grant)
        if window is not None:
            self._floor = (window, max(used_weight, self._floor[1] if self._floor[0] == window else 0))
        return window

    async def pause_until(self, epoch_s: float) -> None:
        await super().pause_until(epoch_s)
        await self.shared.pause(epoch_s, self.clock())


class SharedTokenBucket(TokenBucket):
    """Coinbase: the egress's token bucket in Redis; this process's own bucket is kept too, for the
    fallback (where it knows only our own requests: Coinbase reports no count to correct it)."""

    def __init__(self, shared: SharedBudget, rate_per_s: float, burst: float, *, clock: Clock, sleep: Sleep):
        super().__init__(rate_per_s, burst, clock=clock, sleep=sleep)
        self.shared = shared

    async def acquire(self, weight: int = 1) -> Grant:
        self._check(weight)
        in_process = super().acquire

        async def ask(now: float) -> Reply | None:
            return await self.shared.bucket(weight, self.rate, self.burst, now)

        return await _grant_shared(self, ask, lambda now: self._charge(now, weight), lambda: in_process(weight))

    async def pause_until(self, epoch_s: float) -> None:
        await super().pause_until(epoch_s)
        await self.shared.pause(epoch_s, self.clock())


def weight_limiter(
    shared: SharedBudget | None, limit: int, window_s: float, *, safety_margin: float, clock: Clock
) -> WeightLimiter:
    """Binance's limiter: shared in Redis when a budget is given, else in-process."""
    if shared is None:
        return WeightLimiter(limit, window_s, safety_margin=safety_margin, clock=clock)
    return SharedWeightLimiter(shared, limit, window_s, safety_margin=safety_margin, clock=clock, sleep=asyncio.sleep)


def token_bucket(shared: SharedBudget | None, rate_per_s: float, burst: float, *, clock: Clock) -> TokenBucket:
    """Coinbase's limiter: shared in Redis when a budget is given, else in-process."""
    if shared is None:
        return TokenBucket(rate_per_s, burst, clock=clock)
    return SharedTokenBucket(shared, rate_per_s, burst, clock=clock, sleep=asyncio.sleep)
