"""QueueWorker: `livermore worker`, one more pair of hands on whatever warmup of its exchange runs.

The process that runs a warmup (`serve`, `warmup`) scans, schedules and puts the entries in the
run's stream; it may fetch them too. A worker, on this machine or another, claims entries from the
same consumer group through its own adapter and rate limiter (its own egress IP, or its IP's shared
budget), writes the pages and acknowledges them, exactly as the run's own drain does: they share
the Drain, the PairFetcher and the queue. It reports its share of the run (a WorkerTally) in the
workers hash after every batch, which the run adds into its stats. Between runs it waits, looking
every `poll_s`. (A worker killed between an acknowledgement and that report leaves the entry
uncounted in its share; the entry's candles are in the cache.)

A worker killed mid-entry leaves that entry pending; after `reclaim_idle_s` another worker (or the
run's own drain) takes it over. A pass counts into the tally of the run its last claimed entries
belong to: a new run starts only once every entry of the last one is acknowledged, so a pass spans
two runs only if it claims the first entries of the next one, whose counts then go to that run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

from redis.exceptions import RedisError

from livermore.connection import ping_every_master
from livermore.warmup.drain import Drain
from livermore.warmup.execute import WarmupService
from livermore.warmup.outage import RedisOutage
from livermore.warmup.queue import EntryQueue
from livermore.warmup.stats import WarmupStats, WorkerTally

log = logging.getLogger(__name__)


class QueueWorker:
    """:param name: this worker's consumer name and its key in the workers hash (host:pid is unique).
    :param poll_s: how often an idle worker looks for a run."""

    def __init__(self, service: WarmupService, exchange_id: int, name: str, *, poll_s: float = 0.5):
        self.s = service
        self.exchange_id = exchange_id
        self.name = name
        self.poll_s = poll_s
        self.queue = EntryQueue(service.redis, exchange_id, consumer=name, reclaim_idle_s=service.reclaim_idle_s)
        self.tally: WorkerTally | None = None  # its share of the current run, before the pass under way
        self.passes = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Drain whatever run has entries, until `stop` is set (entries in flight are abandoned to be
        taken over by the others)."""
        while not stop.is_set():
            progress = await self.queue.progress()
            claimed = progress is not None and not progress.settled and await self._pass(stop)
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_s)

    async def _pass(self, stop: asyncio.Event) -> bool:
        """Drain until nothing is left to claim here; whether anything was done."""
        now = self.s.clock()
        stats = WarmupStats(exchange_id=self.exchange_id, mode="worker", started_at=now, updated_at=now)
        outage = RedisOutage(partial(ping_every_master, self.s.redis), limit_s=self.s.redis_outage_limit_s)
        metrics_at_start = self.s.adapter.metrics.as_dict()
        reclaimed_at_start = self.queue.reclaimed

        def share() -> WorkerTally:
            stats.count_requests(self.s.adapter.metrics.as_dict(), metrics_at_start)
            return self._share(stats, self.queue.reclaimed - reclaimed_at_start)

        reporting = asyncio.Lock()
        waiting = False  # a report waits for its turn

        async def report() -> None:
            """After every batch (its acknowledgement just sent): the run's stats count what is done.
            One report at a time, each counted when it is sent (an older share never lands last);
            a batch that ends while a report waits leaves its counts to that one."""
            nonlocal waiting
            if waiting:
                return
            waiting = True
            async with reporting:
                waiting = False
                if self.queue.run is not None:
                    await self._save(share())

        drain = Drain(
            self.s.fetcher(self.exchange_id),
            stats,
            max_in_flight=self.s.max_in_flight,
            halt_on=(stop, outage.gave_up),
            after_batch=report,
            outage=outage,
        )
        try:
            await drain.run(self.queue, self.s.max_in_flight)
        finally:
            await outage.close()
        if not stats.done_pairs:
            return False
        self.tally, self.passes = share(), self.passes + 1
        log.info("worker %s: %d pairs done for run %s", self.name, stats.done_pairs, self.queue.run)
        return True

    def _share(self, stats: WarmupStats, reclaimed: int) -> WorkerTally:
        """The run's tally with this pass counted in (a fresh one when the run is new)."""
        run = self.queue.run or 0
        before = self.tally if self.tally is not None and self.tally.run == run else WorkerTally(run=run)
        return before.add(stats, reclaimed)

    async def _save(self, tally: WorkerTally) -> None:
        with contextlib.suppress(RedisError, OSError):  # unreported for a moment: reported with the next batch
            await self.s.store.save_tally(self.exchange_id, self.name, tally)
