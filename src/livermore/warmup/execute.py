"""WarmupService: scan -> schedule -> execute, at the exchange's limit, with live progress.

The seeds call it `SmartWarmupService`; it is plain `WarmupService` here because it also runs the
seed's policy (for measuring) and the original's brute-force backfill (`StartupBackfillService`),
all through the one `Drain`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import KW_ONLY, dataclass, field
from functools import partial

from redis.exceptions import RedisError

from livermore.cache import CandleCache
from livermore.cache.candles import Cleared
from livermore.connection import RedisClient, ping_every_master
from livermore.errors import ExchangeBannedError, ExchangeError, WarmupAlreadyRunning
from livermore.exchanges import ExchangeAdapter
from livermore.keys import warmup_lock_key
from livermore.models import SCAN_TIMEFRAME_ORDER, Timeframe
from livermore.warmup.drain import Drain, WarmupPolicy
from livermore.warmup.fetch import PairFetcher
from livermore.warmup.lock import LeaseHolder, LeaseLock, LockHeldError, lease_holder
from livermore.warmup.outage import RedisOutage
from livermore.warmup.queue import EntryList, EntryQueue
from livermore.warmup.scan import CandleStatusResult, CandleStatusScanner
from livermore.warmup.schedule import WarmupSchedule, WarmupScheduleBuilder
from livermore.warmup.stats import Outcome, WarmupStats, WorkerTally
from livermore.warmup.store import StatsPublisher, WarmupStore
from livermore.warmup.symbols import SymbolCatalog

log = logging.getLogger(__name__)
SETTLE_POLL_S = 0.25  # how often a run whose entries other workers hold looks whether they are done

ProgressSink = Callable[[WarmupStats], None]


@dataclass(frozen=True)
class Plan:
    """A persisted schedule, the symbols it covers (in the exchange's spelling) and those left out."""

    schedule: WarmupSchedule
    symbols: list[str]
    unknown: list[str]


class StopRequest:
    """Why a run should end early, asked once by whoever may stop it (an operator's cancel, a
    signal, the service shutting down); the drain looks at it before every claim."""

    def __init__(self) -> None:
        self.outcome: Outcome | None = None
        self.message: str | None = None
        self.requested = asyncio.Event()

    def request(self, outcome: Outcome, message: str) -> None:
        """The first request wins: a shutdown after a cancel does not rewrite why the run stopped."""
        if self.outcome is None:
            self.outcome, self.message = outcome, message
            self.requested.set()


@dataclass
class WarmupService:
    """Fills only what the cache lacks. Concurrency is governed by the adapter's rate limiter (up to
    `max_in_flight` requests in flight), not by a fixed batch; `policy="seed"` keeps the original's
    batches of 5 and 1 s pause so both can be measured on the same exchange.

    :param scanner: judges the cache (its threshold decides what is fetched); its cache is written.
    :param builder: turns verdicts into a schedule (its target is how many intervals a fetch fills).
    :param catalog: the exchange's symbols: unknown ones are reported before any candle request.
    :param lock_ttl_s: a killed run's lease frees itself after this long.
    :param stats_interval_s: progress is written at most this often.
    :param materialise_synthetic: also write synthetic members for confirmed-empty intervals (off:
        the original treats every member as real).
    :param touch_up_passes: scans after the drain for pairs that aged while it ran (the original's touch-up).
    :param redis_outage_limit_s: a run whose Redis is away waits this long for it (RedisOutage),
        then ends `interrupted`.
    :param reclaim_idle_s: an entry a worker claimed and left unacknowledged this long is taken over.
    :param drain_locally: False: this process scans and schedules, `livermore worker` processes fetch.
    """

    redis: RedisClient
    adapter: ExchangeAdapter
    scanner: CandleStatusScanner
    builder: WarmupScheduleBuilder
    catalog: SymbolCatalog
    _: KW_ONLY
    max_in_flight: int
    lock_ttl_s: float
    stats_interval_s: float
    touch_up_passes: int
    redis_outage_limit_s: float
    reclaim_idle_s: float
    drain_locally: bool = True
    materialise_synthetic: bool = False
    policy: WarmupPolicy = "smart"
    store: WarmupStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = WarmupStore(self.redis)

    @property
    def cache(self) -> CandleCache:
        return self.scanner.cache

    @property
    def clock(self) -> Callable[[], int]:
        """The scanner's: the run judges and stamps with the same time."""
        return self.scanner.clock

    def fetcher(self, exchange_id: int) -> PairFetcher:
        return PairFetcher(
            self.adapter, self.cache, exchange_id, self.clock, materialise_synthetic=self.materialise_synthetic
        )

    async def is_running(self, exchange_id: int) -> bool:
        """Whether a process that may be alive holds the warmup lease of this exchange (a lease left
        by a process of this host that is gone does not count: the next run takes it over)."""
        holder = await lease_holder(self.redis, warmup_lock_key(exchange_id))
        return holder is not None and not holder.provably_dead(socket.gethostname())

    @asynccontextmanager
    async def _lease(self, exchange_id: int, *, wait: bool) -> AsyncIterator[LeaseLock]:
        """The exchange's warmup lease. A holder proved dead (killed on this host) is taken over at
        once; with `wait`, a holder that cannot be proved alive (another host, an unknown one) is
        waited for up to the lease's TTL, long enough for the lease of a dead one to expire."""
        key = warmup_lock_key(exchange_id)
        holder = await lease_holder(self.redis, key)
        alive = holder is not None and holder.provably_alive(socket.gethostname())
        wait_s = self.lock_ttl_s if wait and not alive else 0.0
        try:
            async with LeaseLock(self.redis, key, ttl_s=self.lock_ttl_s, wait_s=wait_s, on_wait=_say_waiting) as lease:
                yield lease
        except LockHeldError as e:
            raise WarmupAlreadyRunning(
                f"a warmup or backfill of exchange {exchange_id} is already running ({e.holder.describe()})"
            ) from None

    async def scan(
        self, exchange_id: int, symbols: Sequence[str], timeframes: Sequence[Timeframe] = SCAN_TIMEFRAME_ORDER
    ) -> list[CandleStatusResult]:
        return await self.scanner.scan(exchange_id, symbols, timeframes)

    async def plan(
        self, exchange_id: int, symbols: Sequence[str], timeframes: Sequence[Timeframe] = SCAN_TIMEFRAME_ORDER
    ) -> Plan:
        """Scan, build the schedule and persist it; returns it with the symbols it covers and those
        the exchange does not know.

        The exchange's symbol list is asked for only when something must be fetched, so a warm
        restart makes no request at all; then unknown symbols are left out before any candle
        request, and known ones are scanned under the exchange's own spelling (`btcusdt` -> `BTCUSDT`).
        Raises ExchangeError when the list cannot be had: nothing else could be fetched either.
        """
        known, unknown = list(dict.fromkeys(symbols)), list[str]()
        results = await self.scan(exchange_id, known, timeframes)
        if not all(r.sufficient for r in results):
            checked, unknown = await self.catalog.split(known)
            if checked != known:
                known, results = checked, await self.scan(exchange_id, checked, timeframes)
        schedule = self.builder.build(exchange_id, results, mode="smart")
        await self.store.save_schedule(schedule)
        log.info(
            "schedule for exchange %s: %d of %d pairs need fetching",
            exchange_id,
            schedule.needs_fetching,
            schedule.total_pairs,
        )
        return Plan(schedule, known, unknown)

    async def run(
        self,
        exchange_id: int,
        symbols: Sequence[str],
        timeframes: Sequence[Timeframe] | None = None,
        *,
        stop: StopRequest | None = None,
        on_progress: ProgressSink | None = None,
        gate: asyncio.Event | None = None,
    ) -> WarmupStats:
        """Check the symbols, scan, persist the schedule, execute it. Raises WarmupAlreadyRunning;
        anything else that goes wrong ends the run with an `outcome` and a message, never a stale
        `fetching`. While `gate` is clear (paused) no entry is claimed."""
        async with self._lease(exchange_id, wait=True) as lease:
            run = _Run(self, exchange_id, symbols, stop or StopRequest(), lease.lost, on_progress, gate)
            return await run.execute(list(timeframes or SCAN_TIMEFRAME_ORDER))

    async def backfill(
        self,
        exchange_id: int,
        symbols: Sequence[str],
        timeframes: Sequence[Timeframe] = SCAN_TIMEFRAME_ORDER,
        *,
        stop: StopRequest | None = None,
    ) -> WarmupStats:
        """The original's brute force for ad-hoc operations (force-backfill, add-symbol): the newest
        `target` candles of every pair, whatever the cache holds, through the same drain and rate
        limiter as a warmup. Holds the warmup lease, refused (WarmupAlreadyRunning) while any process
        holds it: a warmup would write from a scan older than these pages, and a clear meanwhile
        would be refilled. `stop` ends it within one request, the outcome saying why. Writes no
        stats: those (and the instance that follows them) stay the last warmup's. Unknown symbols
        are failures without a request."""
        async with self._lease(exchange_id, wait=False) as lease:
            return await self._backfill(exchange_id, symbols, timeframes, stop or StopRequest(), lease.lost)

    async def _backfill(
        self,
        exchange_id: int,
        symbols: Sequence[str],
        timeframes: Sequence[Timeframe],
        stop: StopRequest,
        lost: asyncio.Event,
    ) -> WarmupStats:
        started = time.monotonic()
        wanted, unknown = await self.catalog.split(symbols)
        schedule = self.builder.full_refresh(exchange_id, await self.scan(exchange_id, wanted, timeframes))
        now = self.clock()
        stats = WarmupStats(
            exchange_id=exchange_id,
            mode="backfill",
            status="fetching",
            started_at=now,
            updated_at=now,
            total_symbols=len(wanted) + len(unknown),
            total_pairs=schedule.needs_fetching,
            policy=self.policy,
        )
        self.record_unknown(stats, unknown, timeframes)
        outage = RedisOutage(partial(ping_every_master, self.redis), limit_s=self.redis_outage_limit_s)
        drain = Drain(
            self.fetcher(exchange_id),
            stats,
            max_in_flight=self.max_in_flight,
            halt_on=(stop.requested, lost, outage.gave_up),
            outage=outage,
        )
        await drain.run(EntryList(schedule.entries), schedule.needs_fetching)
        await outage.close()
        left = f"{stats.total_pairs - stats.done_pairs} pairs not backfilled"
        stats.end(*(_early_stop(drain, stop, lost, outage, left) or _counted_outcome(stats)))
        stats.updated_at = self.clock()
        stats.duration_ms = round((time.monotonic() - started) * 1000)
        stats.progress(now, stats.updated_at)
        return stats

    def record_unknown(self, stats: WarmupStats, unknown: Sequence[str], timeframes: Sequence[Timeframe]) -> None:
        """Every pair of a symbol the exchange does not know is a failure, reported without a request."""
        why = UnknownSymbol(f"unknown symbol on {self.adapter.name}")
        for symbol in unknown:
            for tf in timeframes:
                stats.record_failure(symbol, tf.value, why)
        stats.total_pairs += len(unknown) * len(timeframes)

    async def clear_cache(
        self, exchange_id: int, symbol: str | None = None, timeframe: Timeframe | None = None
    ) -> Cleared:
        """Delete the scope's candle, ticker and indicator keys; returns how many
        of each (CandleCache.clear_scope). Holds the warmup lease while it deletes: refused
        (WarmupAlreadyRunning) while any process runs a warmup of the exchange, whose writes come
        from a scan made before the clear, and no warmup starts until the clear is done."""
        async with self._lease(exchange_id, wait=False):
            return await self.cache.clear_scope(exchange_id, symbol, timeframe)


def _say_waiting(holder: LeaseHolder, remaining_s: float) -> None:
    log.warning(
        "waiting for the lease of a previous run (%s), up to %.0f s: a live run renews it, a dead one's expires",
        holder.describe(),
        remaining_s,
    )


class UnknownSymbol(Exception):
    """A failure record's cause: the exchange does not list the symbol."""


class StillInsufficient(Exception):
    """A failure record's cause: the pair was fetched, and the exchange's answer did not make it whole."""


def _counted_outcome(stats: WarmupStats) -> tuple[Outcome, str | None]:
    """A run that went to its end: complete, or failed when some pairs failed."""
    if stats.failed_pairs:
        return "failed", f"{stats.failed_pairs} of {stats.total_pairs} pairs failed; the next run retries them"
    return "complete", None


def _early_stop(
    drain: Drain, stop: StopRequest, lost: asyncio.Event, outage: RedisOutage, left: str
) -> tuple[Outcome, str] | None:
    """Why a drain stopped before its queue was empty, if it did (the first reason that holds), with
    `left` saying what remains: a ban, Redis away past its limit, a lost lease, a stop request."""
    if drain.banned is not None:
        return "banned", f"stopped: {drain.banned}; {left}"
    if outage.gave_up.is_set():
        return "interrupted", f"Redis was unreachable for over {outage.limit_s:.0f} s; {left}"
    if lost.is_set():
        return "interrupted", f"the lease was lost (Redis restarted?); {left}"
    if stop.outcome is not None:
        return stop.outcome, f"{stop.message}; {left}"
    return None


class _Run:
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
            outcome = self._stopped() or _counted_outcome(self.report)
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
            if progress is None or progress.settled:
                return
            if not waiting:
                waiting = True
                log.info("waiting for workers: %d entries unread, %d in flight", progress.unread, progress.pending)
            await self._publish()
            await asyncio.sleep(SETTLE_POLL_S)
            entries = progress.unread + progress.pending

    async def _plan(self, timeframes: list[Timeframe]) -> WarmupSchedule:
        plan = await self.s.plan(self.exchange_id, self.symbols, timeframes)
        schedule, self.known = plan.schedule, plan.symbols
        await self.queue.reset(schedule.entries, run=self.stats.started_at)
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
            await self.queue.reset(entries, run=self.stats.started_at)
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
        return _early_stop(self.drain, self.stop, self.lost, self.outage, left)

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
