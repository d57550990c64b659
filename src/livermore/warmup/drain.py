"""Drain: the one executor. Claims schedule entries, fetches each through a PairFetcher, records
the outcome in the run's WarmupStats. A warmup and a backfill differ only in where entries come
from and who watches; pacing belongs to the adapter's rate limiter, not to the drain.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

from livermore.errors import ExchangeBannedError
from livermore.warmup.fetch import PairFetcher
from livermore.warmup.outage import RedisOutage
from livermore.warmup.queue import Claimed
from livermore.warmup.schedule import WarmupScheduleEntry
from livermore.warmup.stats import WarmupStats

log = logging.getLogger(__name__)

T = TypeVar("T")
EntryOutcome = int | Exception | None
"""What became of one entry: the candles written, the error it failed with, or None: left undone
(Redis stayed away), for the next run."""

WarmupPolicy = Literal["smart", "seed"]
SEED_BATCH = 5  # the original: 5 requests with Promise.allSettled, then 1 s of sleep
SEED_PAUSE_S = 1.0
PAUSED = "paused"  # the stats message while an operator's pause holds the drain


class EntrySource(Protocol):
    async def claim(self, count: int) -> Claimed: ...

    async def complete(self, *ids: bytes) -> set[bytes]:
        """Acknowledge `ids`; those this call acknowledged (not one another worker did first)."""
        ...


@dataclass
class Drain:
    """Runs entries until the source is empty or one of `halt_on` is set; a failing entry is
    recorded and the others go on, except a ban, which stops claiming (waiting out a ban of minutes
    to days helps nobody) and lets the requests in flight finish.

    A halt (a cancel, a signal, a lost lease) stops within one request: nothing more is claimed,
    and entries waiting for the limiter or for an answer are abandoned. Nothing is half-written:
    a pair's page is one atomic script call, made only after its whole answer arrived; abandoned
    entries are neither done nor failed, so the final stats count them as left.

    `max_in_flight` workers claim side by side (`smart`) and the adapter's limiter paces them;
    `seed` keeps the original's batches of 5 and 1 s pause, for comparison. `after_batch` is called
    after each claimed batch is done (progress publishing).

    `outage`, when given, carries the drain through Redis outages: a claim, a write, an
    acknowledgement or a stats update that meets one waits until Redis is back and runs again (an
    entry is fetched again whole), and nothing is claimed meanwhile; its `gave_up` should be among
    `halt_on`. A pair is never failed for Redis's sake.

    `gate` is the operator's pause: while it is clear, no worker claims an entry (those in flight
    finish); once every worker waits at it, the stats say `paused` (published), so `paused` means
    no request is in flight. When it is set again the workers go on with the same queue: a resume
    neither rescans nor refetches. A halt still ends a paused drain at once.
    """

    fetch: PairFetcher
    stats: WarmupStats
    max_in_flight: int
    policy: WarmupPolicy = "smart"
    halt_on: tuple[asyncio.Event, ...] = ()
    after_batch: Callable[[], Awaitable[None]] | None = None
    gate: asyncio.Event | None = None
    outage: RedisOutage | None = None
    banned: ExchangeBannedError | None = field(default=None, init=False)
    counted: int = field(default=0, init=False)  # entries this drain acknowledged, done or failed
    _live: int = field(default=0, init=False)  # workers in their claim loop
    _parked: int = field(default=0, init=False)  # of them, waiting at the closed gate

    def stopped(self) -> bool:
        return self.banned is not None or self.halted()

    def halted(self) -> bool:
        return any(event.is_set() for event in self.halt_on)

    async def run(self, source: EntrySource, entries: int) -> None:
        """Drain `source`, which holds `entries` entries, unless halted first."""
        if not entries or self.halted():
            return
        work = asyncio.ensure_future(self._workers(source, entries))
        halts = [asyncio.ensure_future(event.wait()) for event in self.halt_on]
        try:
            await asyncio.wait([work, *halts], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (*halts, work):
                task.cancel()  # no-op for what is done; abandons the entries in flight after a halt
            await asyncio.wait([work, *halts])
        if not work.cancelled() and (error := work.exception()) is not None:
            raise error

    async def _workers(self, source: EntrySource, entries: int) -> None:
        if self.policy == "seed":
            await self._seed_worker(source)
        else:
            await asyncio.gather(*(self._worker(source) for _ in range(min(self.max_in_flight, entries))))

    async def _worker(self, source: EntrySource) -> None:
        """Claim one entry at a time; the rate limiter inside the adapter paces the requests."""
        self._live += 1
        try:
            while await self._may_claim() and (claimed := await self._redis(lambda: source.claim(1))):
                await self._run_batch(source, claimed)
        finally:
            self._live -= 1
        await self._say_paused_when_all_wait()  # the others may all be waiting at the gate

    async def _seed_worker(self, source: EntrySource) -> None:
        """The original's policy: 5 entries side by side, then sleep a second, whatever the budget."""
        self._live += 1
        try:
            while await self._may_claim() and (claimed := await self._redis(lambda: source.claim(SEED_BATCH))):
                await self._run_batch(source, claimed)
                await asyncio.sleep(SEED_PAUSE_S)
        finally:
            self._live -= 1

    async def _may_claim(self) -> bool:
        """Wait while paused (the gate is clear); then whether claiming may go on."""
        if self.gate is not None and not self.gate.is_set() and not self.stopped():
            self._parked += 1
            try:
                await self._say_paused_when_all_wait()
                await self.gate.wait()
            finally:
                self._parked -= 1
            if self.stats.message == PAUSED:
                self.stats.message = None
        return not self.stopped()

    async def _say_paused_when_all_wait(self) -> None:
        if self._live and self._parked == self._live and self.stats.message != PAUSED:
            self.stats.message = PAUSED
            await self._progress()

    async def _run_batch(self, source: EntrySource, claimed: Claimed) -> None:
        """Run the batch, then count what this drain acknowledged. An entry held past the reclaim
        idle time by a slow worker may be run twice, once by the worker that took it over; the
        cache holds its candles once, and the stats count it once: for the first acknowledgement."""
        outcomes = await asyncio.gather(*(self._run_entry(entry) for _, entry in claimed))
        ran = [(mid, entry, out) for (mid, entry), out in zip(claimed, outcomes, strict=True) if out is not None]
        acked = await self._redis(lambda: source.complete(*(mid for mid, _, _ in ran)))
        for mid, entry, outcome in ran:
            if acked is not None and mid in acked:
                self._count(entry, outcome)
                self.counted += 1
            else:
                log.info(
                    "%s %s %s: another worker acknowledged it first",
                    self.stats.mode,
                    entry.symbol,
                    entry.timeframe.value,
                )
        await self._progress()

    async def _progress(self) -> None:
        if self.after_batch is not None:
            await self._redis(self.after_batch)

    async def _redis(self, step: Callable[[], Awaitable[T]]) -> T | None:
        """A step that talks to Redis, carried through outages when the drain has an `outage`;
        None when the outage outlasted its limit."""
        return await step() if self.outage is None else await self.outage.retry(step)

    async def _run_entry(self, entry: WarmupScheduleEntry) -> EntryOutcome:
        self.stats.current_symbol, self.stats.current_timeframe = entry.symbol, entry.timeframe.value
        try:
            return await self._redis(lambda: self.fetch(entry.symbol, entry.timeframe, entry.fetch_from))
        except Exception as e:
            if isinstance(e, ExchangeBannedError):
                self.banned = e
            log.warning("%s %s %s failed: %s", self.stats.mode, entry.symbol, entry.timeframe.value, e)
            return e

    def _count(self, entry: WarmupScheduleEntry, outcome: int | Exception) -> None:
        if isinstance(outcome, Exception):
            self.stats.record_failure(entry.symbol, entry.timeframe.value, outcome)
        else:
            self.stats.completed_pairs += 1
            self.stats.candles_written += outcome
