"""WarmupService: scan -> schedule -> execute, at the exchange's limit, with live progress.

The seeds call it `SmartWarmupService`; it is plain `WarmupService` here because it also runs the
seed's policy (for measuring) and the original's brute-force backfill (`StartupBackfillService`),
all through the one `Drain`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import KW_ONLY, dataclass, field
from functools import partial

from livermore.cache import CandleCache
from livermore.cache.candles import Cleared
from livermore.connection import RedisClient, ping_every_master
from livermore.errors import WarmupAlreadyRunning
from livermore.exchanges import ExchangeAdapter
from livermore.keys import warmup_lock_key
from livermore.models import SCAN_TIMEFRAME_ORDER, Timeframe
from livermore.warmup.drain import Drain, WarmupPolicy
from livermore.warmup.ending import StopRequest, counted_outcome, early_stop
from livermore.warmup.fetch import PairFetcher
from livermore.warmup.lock import LeaseHolder, LeaseLock, LockHeldError, lease_holder
from livermore.warmup.outage import RedisOutage
from livermore.warmup.queue import EntryList
from livermore.warmup.run import ProgressSink, WarmupRun
from livermore.warmup.scan import CandleStatusResult, CandleStatusScanner
from livermore.warmup.schedule import WarmupSchedule, WarmupScheduleBuilder
from livermore.warmup.stats import WarmupStats
from livermore.warmup.store import WarmupStore
from livermore.warmup.symbols import SymbolCatalog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """A persisted schedule, the symbols it covers (in the exchange's spelling) and those left out."""

    schedule: WarmupSchedule
    symbols: list[str]
    unknown: list[str]


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
            run = WarmupRun(self, exchange_id, symbols, stop or StopRequest(), lease.lost, on_progress, gate)
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
        stats.end(*(early_stop(drain, stop, lost, outage, left) or counted_outcome(stats)))
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
