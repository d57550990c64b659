"""WarmupService: scan -> schedule -> execute, at the exchange's limit, with live progress.

The seeds call it `SmartWarmupService`; it is plain `WarmupService` here because it also runs the
seed's policy (for measuring) and the original's brute-force backfill (`StartupBackfillService`),
all through the one `Drain`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import KW_ONLY, dataclass, field
from typing import Literal

from redis.asyncio import Redis

from livermore.cache import CandleCache
from livermore.errors import WarmupAlreadyRunning
from livermore.exchanges import ExchangeAdapter
from livermore.keys import warmup_lock_key
from livermore.models import SCAN_TIMEFRAME_ORDER, Timeframe, now_ms
from livermore.warmup.drain import Drain, WarmupPolicy
from livermore.warmup.fetch import PairFetcher
from livermore.warmup.lock import LeaseLock, LockHeldError
from livermore.warmup.queue import EntryList, EntryQueue
from livermore.warmup.scan import CandleStatusResult, CandleStatusScanner
from livermore.warmup.schedule import WarmupSchedule, WarmupScheduleBuilder
from livermore.warmup.stats import WarmupStats
from livermore.warmup.store import StatsPublisher, WarmupStore

log = logging.getLogger(__name__)

ProgressSink = Callable[[WarmupStats], None]


@dataclass
class WarmupService:
    """Fills only what the cache lacks. Concurrency is governed by the adapter's rate limiter (up to
    `max_in_flight` requests in flight), not by a fixed batch; `policy="seed"` keeps the original's
    batches of 5 and 1 s pause so both can be measured on the same exchange.

    :param scanner: judges the cache (its threshold decides what is fetched); its cache is written.
    :param builder: turns verdicts into a schedule (its target is how many intervals a fetch fills).
    :param lock_ttl_s: a killed run's lease frees itself after this long.
    :param stats_interval_s: progress is written at most this often.
    """

    redis: Redis
    adapter: ExchangeAdapter
    scanner: CandleStatusScanner
    builder: WarmupScheduleBuilder
    _: KW_ONLY
    max_in_flight: int
    lock_ttl_s: float
    stats_interval_s: float
    policy: WarmupPolicy = "smart"
    clock: Callable[[], int] = now_ms
    store: WarmupStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = WarmupStore(self.redis)

    @property
    def cache(self) -> CandleCache:
        return self.scanner.cache

    async def is_running(self, exchange_id: int) -> bool:
        """Whether any process holds the warmup lease of this exchange right now."""
        return bool(await self.redis.exists(warmup_lock_key(exchange_id)))

    @asynccontextmanager
    async def _lease(self, exchange_id: int) -> AsyncIterator[LeaseLock]:
        try:
            async with LeaseLock(self.redis, warmup_lock_key(exchange_id), ttl_s=self.lock_ttl_s) as lease:
                yield lease
        except LockHeldError:
            raise WarmupAlreadyRunning(f"a warmup of exchange {exchange_id} is already running") from None

    async def scan(
        self, exchange_id: int, symbols: Sequence[str], timeframes: Sequence[Timeframe] = SCAN_TIMEFRAME_ORDER
    ) -> list[CandleStatusResult]:
        return await self.scanner.scan(exchange_id, symbols, timeframes)

    async def plan(
        self, exchange_id: int, symbols: Sequence[str], timeframes: Sequence[Timeframe] = SCAN_TIMEFRAME_ORDER
    ) -> WarmupSchedule:
        """Scan, build the schedule and persist it."""
        schedule = self.builder.build(exchange_id, await self.scan(exchange_id, symbols, timeframes), mode="smart")
        await self.store.save_schedule(schedule)
        log.info(
            "schedule for exchange %s: %d of %d pairs need fetching",
            exchange_id,
            schedule.needs_fetching,
            schedule.total_pairs,
        )
        return schedule

    async def run(
        self,
        exchange_id: int,
        symbols: Sequence[str],
        timeframes: Sequence[Timeframe] | None = None,
        *,
        cancel: asyncio.Event | None = None,
        on_progress: ProgressSink | None = None,
    ) -> WarmupStats:
        """Scan, persist the schedule, execute it. Raises WarmupAlreadyRunning; anything else that
        goes wrong ends the run with status `error` and a message, never a stale `fetching`."""
        async with self._lease(exchange_id) as lease:
            run = _Run(self, exchange_id, symbols, cancel or asyncio.Event(), lease.lost, on_progress)
            return await run.execute(list(timeframes or SCAN_TIMEFRAME_ORDER))

    async def backfill(
        self, exchange_id: int, symbols: Sequence[str], timeframes: Sequence[Timeframe] = SCAN_TIMEFRAME_ORDER
    ) -> WarmupStats:
        """The original's brute force for ad-hoc operations (force-backfill, add-symbol): the newest
        `target` candles of every pair, whatever the cache holds, through the same drain and rate
        limiter as a warmup. Takes no lease and writes no stats: it may run beside a warmup."""
        started = time.monotonic()
        wanted = list(dict.fromkeys(symbols))
        schedule = self.builder.full_refresh(exchange_id, await self.scan(exchange_id, wanted, timeframes))
        now = self.clock()
        stats = WarmupStats(
            exchange_id=exchange_id,
            mode="backfill",
            status="fetching",
            started_at=now,
            updated_at=now,
            total_symbols=len(wanted),
            total_pairs=schedule.needs_fetching,
            policy=self.policy,
        )
        drain = Drain(
            PairFetcher(self.adapter, self.cache, exchange_id, self.clock), stats, max_in_flight=self.max_in_flight
        )
        await drain.run(EntryList(schedule.entries), schedule.needs_fetching)
        stats.status = "error" if drain.banned else "complete"
        stats.message = str(drain.banned) if drain.banned else None
        stats.current_symbol = stats.current_timeframe = None
        stats.updated_at = self.clock()
        stats.duration_ms = round((time.monotonic() - started) * 1000)
        stats.progress(now, stats.updated_at)
        return stats

    async def clear_cache(self, exchange_id: int, symbol: str | None = None, timeframe: Timeframe | None = None) -> int:
        """Delete candle keys; returns how many. Holds the warmup lease while it deletes: refused
        (WarmupAlreadyRunning) while any process runs a warmup of the exchange, whose writes come
        from a scan made before the clear, and no warmup starts until the clear is done."""
        async with self._lease(exchange_id):
            return await self.cache.clear(exchange_id, symbol, timeframe)


class _Run:
    """The state of one warmup: its stats (which are its report), the entry queue and the drain."""

    def __init__(
        self,
        service: WarmupService,
        exchange_id: int,
        symbols: Sequence[str],
        cancel: asyncio.Event,
        lost: asyncio.Event,
        on_progress: ProgressSink | None,
    ):
        self.s = service
        self.exchange_id = exchange_id
        self.symbols = list(dict.fromkeys(symbols))
        self.cancel = cancel
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
        self.queue = EntryQueue(service.redis, exchange_id, consumer=uuid.uuid4().hex)
        self.fetch_started = now
        self.drain = Drain(
            PairFetcher(service.adapter, service.cache, exchange_id, service.clock),
            self.stats,
            max_in_flight=service.max_in_flight,
            policy=service.policy,
            stop_when=lambda: self.cancel.is_set() or self.lost.is_set(),
            after_batch=self._publish,
        )

    async def execute(self, timeframes: list[Timeframe]) -> WarmupStats:
        try:
            await self._publish(force=True)
            schedule = await self._plan(timeframes)
            await self.drain.run(self.queue, schedule.needs_fetching)
            self._finish("error" if self.drain.stopped() else "complete", self._stop_reason())
        except Exception as e:
            log.exception("warmup of exchange %s failed", self.exchange_id)
            self._finish("error", f"{type(e).__name__}: {e}")
        await self._publish(force=True)
        return self.stats

    async def _plan(self, timeframes: list[Timeframe]) -> WarmupSchedule:
        schedule = await self.s.plan(self.exchange_id, self.symbols, timeframes)
        await self.queue.reset(schedule.entries)
        self.stats.total_pairs = schedule.needs_fetching
        self.stats.skipped_pairs = schedule.sufficient_pairs
        self.stats.status = "fetching"
        self.fetch_started = self.s.clock()
        await self._publish(force=True)
        return schedule

    def _stop_reason(self) -> str | None:
        if self.drain.banned is not None:
            left = self.stats.total_pairs - self.stats.done_pairs
            return f"stopped: {self.drain.banned}; {left} pairs left for the next run"
        if self.lost.is_set():
            return "lease lost"
        return "cancelled" if self.cancel.is_set() else None

    def _finish(self, status: Literal["complete", "error"], message: str | None) -> None:
        self.stats.status = status
        self.stats.message = message
        self.stats.current_symbol = self.stats.current_timeframe = None
        self.stats.duration_ms = round((time.monotonic() - self.started) * 1000)
        self._refresh()
        log.info("warmup of exchange %s %s: %s", self.exchange_id, status, self.stats.to_json().decode())

    def _refresh(self) -> None:
        """Bring the REST counters, percent and ETA up to date."""
        now = self.s.clock()
        m = self.s.adapter.metrics.as_dict()
        d = {k: m[k] - self.metrics_at_start[k] for k in m}
        self.stats.rest_calls, self.stats.weight_used, self.stats.retries = (
            d["requests"],
            d["weight_used"],
            d["retries"],
        )
        self.stats.throttled, self.stats.banned = d["throttled"], d["banned"]
        self.stats.updated_at = now
        self.stats.progress(self.fetch_started, now)

    async def _publish(self, force: bool = False) -> None:
        self._refresh()
        await self.publisher.publish(self.stats, force=force)
        if self.on_progress is not None:
            self.on_progress(self.stats)
