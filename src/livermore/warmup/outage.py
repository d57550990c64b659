"""RedisOutage: a warmup that loses Redis waits for it instead of failing pairs or ending at once.

redis-py already retries a failed command for a few seconds; an outage longer than that (a Redis
restarted from its AOF, a failover) raises ConnectionError out of a claim, a candle write, an
acknowledgement or a stats update. None of those is the pair's fault, so none is recorded as a
failure: the drain's workers stop claiming and writing, the one step that failed is run again
once Redis answers (a page is one atomic script call, so a page written before the outage is
simply written again, the same members at the same scores), and the run goes on with the same
queue. An outage longer than `limit_s` gives up: the drain halts and the run ends `interrupted`
with what is left for the next start, which scans and resumes exactly what is missing.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import ClusterDownError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

T = TypeVar("T")
Ping = Callable[[], Awaitable[object]]


def is_outage(error: BaseException) -> bool:
    """Redis could not be reached or did not answer (a restart, loading its AOF, a network cut), or
    a Redis Cluster says it is down (a node gone, the cluster forming again); a Redis that answered
    with any other error is not an outage."""
    return isinstance(error, RedisConnectionError | RedisTimeoutError | ClusterDownError)


class Backoff:
    """Jittered exponential pauses for whatever waits on Redis: each failure doubles the pause up to
    `cap_s`, jittered by +-50% so that many clients of a restarted Redis do not come back in step;
    `reset()` after a success."""

    def __init__(self, first_s: float = 0.05, cap_s: float = 2.0):
        self.first_s = first_s
        self.cap_s = cap_s
        self._next_s = first_s

    def next_s(self) -> float:
        pause = min(self._next_s * random.uniform(0.5, 1.5), self.cap_s)
        self._next_s = min(self._next_s * 2, self.cap_s)
        return pause

    async def sleep(self) -> None:
        await asyncio.sleep(self.next_s())

    def reset(self) -> None:
        self._next_s = self.first_s


class RedisOutage:
    """Shared by one run's workers: the first to meet an outage starts one probe (PING with jittered
    exponential backoff); every worker waits for `up` or for `gave_up`, which the drain halts on.

    :param ping: one round trip to the run's Redis.
    :param limit_s: give up after Redis has been away this long (from the first failed step).
    :param backoff_s: the probe's first and largest pause.
    """

    def __init__(
        self,
        ping: Ping,
        *,
        limit_s: float,
        backoff_s: tuple[float, float] = (0.05, 2.0),
        clock: Callable[[], float] = time.monotonic,
    ):
        self.ping = ping
        self.limit_s = limit_s
        self.backoff_s = backoff_s
        self.clock = clock
        self.up = asyncio.Event()
        self.up.set()
        self.gave_up = asyncio.Event()
        self.outages = 0  # how many times Redis went away during the run (for the log and tests)
        self._probe: asyncio.Task[None] | None = None

    async def retry(self, step: Callable[[], Awaitable[T]]) -> T | None:
        """`step()`, run again after each outage until it succeeds; None once the outage outlasted
        its limit. Any other error is the step's own, raised as it is."""
        while True:
            await self.wait()
            if self.gave_up.is_set():
                return None
            try:
                return await step()
            except Exception as e:
                if not is_outage(e):
                    raise
                self._went_away(e)

    async def wait(self) -> None:
        """Until Redis is back, or the outage was given up on."""
        if self.up.is_set() or self.gave_up.is_set():
            return
        done = asyncio.ensure_future(self.up.wait())
        gave_up = asyncio.ensure_future(self.gave_up.wait())
        try:
            await asyncio.wait([done, gave_up], return_when=asyncio.FIRST_COMPLETED)
        finally:
            done.cancel()
            gave_up.cancel()

    def _went_away(self, error: BaseException) -> None:
        if not self.up.is_set():
            return
        self.up.clear()
        self.outages += 1
        log.warning("Redis went away (%s): the warmup waits for it, up to %.0f s", error, self.limit_s)
        self._probe = asyncio.create_task(self._until_back(self.clock()))

    async def _until_back(self, since: float) -> None:
        backoff = Backoff(*self.backoff_s)
        while self.clock() - since < self.limit_s:
            await asyncio.sleep(min(backoff.next_s(), self.limit_s))
            try:
                await self.ping()
            except Exception:  # refused, loading its AOF, not yet accepting us: still away
                continue
            log.warning("Redis is back after %.1f s: the warmup goes on", self.clock() - since)
            self.up.set()
            return
        log.error("Redis was away for more than %.0f s: the warmup stops", self.limit_s)
        self.gave_up.set()

    async def close(self) -> None:
        """Stop probing (the run ended)."""
        if self._probe is not None and not self._probe.done():
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
