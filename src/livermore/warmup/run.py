"""WarmupRun: one warmup from its scan to its end, with its stats (which are its report).

Plans (scan, schedule, queue), drains the queue here and waits for what `livermore worker`
processes claimed, touches up what aged meanwhile, and ends with an outcome that says what
happened; every path out publishes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from livermore.connection import ping_every_master
from livermore.errors import ExchangeBannedError, ExchangeError
from livermore.models import Timeframe
from livermore.warmup.drain import Drain
from livermore.warmup.ending import StopRequest, counted_outcome, early_stop
from livermore.warmup.outage import RedisOutage
from livermore.warmup.queue import EntryQueue
from livermore.warmup.scan import CandleStatusResult
from livermore.warmup.schedule import WarmupSchedule, WarmupScheduleEntry
from livermore.warmup.stats import Outcome, WarmupStats, WorkerTally
from livermore.warmup.store import StatsPublisher

if TYPE_CHECKING:
    from livermore.warmup.execute import WarmupService

log = logging.getLogger(__name__)

SETTLE_POLL_S = 0.25  # how often a run whose entries other workers hold looks whether they are done
REPORT_WAIT_S = 5.0  # how long a settled run waits for the workers' reports of their last entries
REPORT_POLL_S = 0.05
ProgressSink = Callable[[WarmupStats], None]


class StillInsufficient(Exception):
    """A failure record's cause: the pair was fetched, and the exchange's answer did not make it whole."""


class WarmupRun:
    """The state of one warmup: its stats (which are its report), the entry queue and the drain."""

    def __init__(
        self,
        service: WarmupService,
        exchange_id: int,
        symbols: Sequence[str],
        stop: StopRequest,
        lost: asyncio.Event,
        on_progress: ProgressSink | None,
        gate: asyncio.Event | None = None,
    ):
        self.s = service
        self.exchange_id = exchange_id
        self.symbols = list(dict.fromkeys(symbols))
        self.stop = stop
        self.lost = lost
        self.on_progress = on_progress
        self.metrics_at_start = service.adapter.metrics.as_dict()
        self.started = time.monotonic()
        now = service.clock()
        self.stats = WarmupStats(
            exchange_id=exchange_id,
            started_at=now,
            updated_at=now,
            mode="smart",
            total_symbols=len(self.symbols),
            policy=service.policy,
        )
        self.publisher = StatsPublisher(service.store, interval_s=service.stats_interval_s)
        self.queue = EntryQueue(
            service.redis, exchange_id, consumer=uuid.uuid4().hex, reclaim_idle_s=service.reclaim_idle_s
        )
        self.remote: dict[str, WorkerTally] = {}  # `livermore worker` processes' shares of this run
        self.queued = 0  # entries put in the queue by this run, over all its passes
        self.fetch_started = now
        self.known: list[str] = []
        self.outage = RedisOutage(partial(ping_every_master, service.redis), limit_s=service.redis_outage_limit_s)
        self.drain = Drain(
            service.fetcher(exchange_id),
            self.stats,
            max_in_flight=service.max_in_flight,
            policy=service.policy,
            halt_on=(self.stop.requested, self.lost, self.outage.gave_up),
            after_batch=self._publish,
            gate=gate,
            outage=self.outage,
        )

    async def execute(self, timeframes: list[Timeframe]) -> WarmupStats:
        """Run to an end and say which: every path out of here sets `outcome` and publishes it."""
        outcome: tuple[Outcome, str | None]
        try:
            await self._publish(force=True)
            schedule = await self._plan(timeframes)
            await self._drain_everywhere(schedule.needs_fetching)
            await self._touch_up(timeframes)
            outcome = self._stopped() or counted_outcome(self.report)
        except ExchangeBannedError as e:
            outcome = "banned", f"{e}; nothing was fetched"
        except ExchangeError as e:  # the symbol list could not be had: nothing else can be either
            outcome = "exchange_unreachable", f"{e}; nothing was fetched"
        except (RedisError, OSError) as e:
            outcome = "interrupted", f"Redis failed: {type(e).__name__}: {e}"
        except Exception as e:
            log.exception("warmup of exchange %s failed", self.exchange_id)
            outcome = "failed", f"{type(e).__name__}: {e}"
        self._finish(*outcome)
        await self.outage.close()
        if outcome[0] != "complete":  # workers elsewhere stop finding its entries
            with contextlib.suppress(RedisError, OSError):
                await self.queue.drop()
        await self._publish(force=True)  # best effort: unwritten, `fetching` with no live lease reads as interrupted
        return self.report

    @property
    def report(self) -> WarmupStats:
        """The run as a whole: this process's counts plus those of any `livermore worker`."""
        if not self.remote:
            return self.stats
        merged = self.stats.with_workers(self.remote)
        merged.progress(self.fetch_started, self.stats.updated_at)
        return merged

    async def _drain_everywhere(self, entries: int) -> None:
        """Fetch the queue's entries here (unless this process only schedules) beside any `livermore
        worker`, then wait until every entry is acknowledged by whoever claimed it; entries a dead
        worker left idle are taken over here (or by another worker)."""
        waiting = False
        while True:
            if self.s.drain_locally:
                await self.drain.run(self.queue, entries)
            if self.drain.stopped():
                return
            progress = await self.outage.retry(self.queue.progress)
            if progress is None:
                return
            if progress.settled:
                await self._await_reports()
                return
            if not waiting:
                waiting = True
                log.info("waiting for workers: %d entries unread, %d in flight", progress.unread, progress.pending)
            await self._publish()
            await asyncio.sleep(SETTLE_POLL_S)
            entries = progress.unread + progress.pending

    async def _await_reports(self) -> None:
        """A worker acknowledges an entry, then reports it: once every entry is acknowledged, wait
        (bounded) until the reports account for all of them, so that the final stats count what was
        done. A worker killed between the two leaves its entry done in the cache and uncounted here."""
        deadline = time.monotonic() + REPORT_WAIT_S
        while True:
            tallies = await self.outage.retry(
                lambda: self.s.store.load_tallies(self.exchange_id, self.stats.started_at)
            )
            if tallies is None:  # Redis stayed away: the outage ends the run
                return
            self.remote = tallies
            reported = self.drain.counted + sum(t.done_pairs for t in tallies.values())
            if reported >= self.queued:
                return
            if time.monotonic() > deadline:
                log.warning(
                    "%d of %d entries were acknowledged but never reported", self.queued - reported, self.queued
                )
                return
            await asyncio.sleep(REPORT_POLL_S)

    async def _enqueue(self, entries: Sequence[WarmupScheduleEntry]) -> None:
        await self.queue.reset(entries, run=self.stats.started_at)
        self.queued += len(entries)

    async def _plan(self, timeframes: list[Timeframe]) -> WarmupSchedule:
        plan = await self.s.plan(self.exchange_id, self.symbols, timeframes)
        schedule, self.known = plan.schedule, plan.symbols
        await self._enqueue(schedule.entries)
        self.stats.total_pairs = schedule.needs_fetching
        self.stats.skipped_pairs = schedule.sufficient_pairs
        self.s.record_unknown(self.stats, plan.unknown, timeframes)
        self.stats.status = "fetching"
        self.fetch_started = self.s.clock()
        await self._publish(force=True)
        return schedule

    async def _touch_up(self, timeframes: list[Timeframe]) -> None:
        """Fetch again what aged while the run went on (a long warmup's 1m pairs go stale before it
        ends), a bounded number of passes, so the run ends with every pair fresh. Pairs that failed
        in this run are not tried again here: the next run does that. A pair still insufficient
        after the last pass was fetched and is not whole (a feed that stopped, an outage): it is a
        failure, so the run cannot say `complete` about a cache that is not."""
        failed = {(f.symbol, f.timeframe) for f in self.report.failures}
        for attempt in range(self.s.touch_up_passes + 1):
            if self.drain.stopped() or not self.s.touch_up_passes:
                return
            results = await self.s.scan(self.exchange_id, self.known, timeframes)
            aged = [r for r in results if not r.sufficient and (r.symbol, r.timeframe.value) not in failed]
            if not aged:
                return
            if attempt == self.s.touch_up_passes:
                self._still_insufficient(aged)
                return
            entries = self.s.builder.build(self.exchange_id, aged).entries
            self.stats.status = "touching_up"
            self.stats.touch_up_pairs += len(entries)
            self.stats.total_pairs += len(entries)
            await self._enqueue(entries)
            await self._publish(force=True)
            await self._drain_everywhere(len(entries))

    def _still_insufficient(self, results: list[CandleStatusResult]) -> None:
        """Fetched (in the drain or a touch-up pass), yet not sufficient: counted failed, not done."""
        for r in results:
            self.stats.completed_pairs -= 1
            why = StillInsufficient(f"still {r.reason} after fetching: the exchange sent nothing to make it whole")
            self.stats.record_failure(r.symbol, r.timeframe.value, why)

    def _stopped(self) -> tuple[Outcome, str] | None:
        """Why the drain stopped before the queue was empty, if it did."""
        left = f"{self.stats.total_pairs - self.report.done_pairs} pairs left for the next run"
        return early_stop(self.drain, self.stop, self.lost, self.outage, left)

    def _finish(self, outcome: Outcome, message: str | None) -> None:
        self.stats.end(outcome, message)
        self.stats.duration_ms = round((time.monotonic() - self.started) * 1000)
        self._refresh()
        log.info("warmup of exchange %s %s: %s", self.exchange_id, outcome, self.stats.to_json().decode())

    def _refresh(self) -> None:
        """Bring the REST counters, percent and ETA up to date."""
        now = self.s.clock()
        self.stats.count_requests(self.s.adapter.metrics.as_dict(), self.metrics_at_start)
        self.stats.updated_at = now
        self.stats.progress(self.fetch_started, now)

    async def _publish(self, force: bool = False) -> None:
        self._refresh()
        if self.publisher.due(force=force):
            with contextlib.suppress(RedisError, OSError):  # best effort, as the stats themselves
                self.remote = await self.s.store.load_tallies(self.exchange_id, self.stats.started_at)
        report = self.report
        await self.publisher.publish(report, force=force)
        if self.on_progress is not None:
            self.on_progress(report)
