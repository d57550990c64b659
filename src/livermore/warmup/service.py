"""SmartWarmupService: scan -> schedule -> execute, at the exchange's limit, with live progress."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from redis.asyncio import Redis

from livermore.cache import CandleCache
from livermore.cache.keys import warmup_lock_key
from livermore.config import Settings
from livermore.exchanges import ExchangeAdapter, ExchangeBannedError
from livermore.models import SCAN_TIMEFRAME_ORDER, Timeframe
from livermore.warmup.fetch import fetch_and_store
from livermore.warmup.lock import LeaseLock, LockHeldError
from livermore.warmup.queue import EntryQueue
from livermore.warmup.scanner import CandleStatusScanner
from livermore.warmup.schedule import WarmupScheduleBuilder
from livermore.warmup.stats import Failure, StatsPublisher, WarmupStats
from livermore.warmup.types import WarmupSchedule, WarmupScheduleEntry, now_ms

log = logging.getLogger(__name__)

Policy = Literal["smart", "seed"]
SEED_BATCH = 5  # the original: 5 requests with Promise.allSettled, then 1 s of sleep
SEED_PAUSE_S = 1.0


class WarmupAlreadyRunning(Exception):
    """Another warmup of this exchange holds the lease (in this process or another)."""


@dataclass
class WarmupReport:
    """What a run did; `--json` prints `as_dict()`."""

    exchange_id: int
    policy: str
    status: str = "complete"
    pairs_total: int = 0
    sufficient: int = 0
    scheduled: int = 0
    completed: int = 0
    failed: int = 0
    rest_calls: int = 0
    weight_used: int = 0
    throttled: int = 0
    banned: int = 0
    retries: int = 0
    candles_written: int = 0
    duration_s: float = 0.0
    message: str | None = None
    failures: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SmartWarmupService:
    """Fills only what the cache lacks. Concurrency is governed by the adapter's rate limiter (up to
    `settings.max_in_flight` requests in flight), not by a fixed batch; `policy="seed"` keeps the
    original's batches of 5 and 1 s pause so both can be measured on the same exchange."""

    def __init__(
        self,
        redis: Redis,
        adapter: ExchangeAdapter,
        settings: Settings,
        *,
        clock: Callable[[], int] = now_ms,
        policy: Policy = "smart",
    ):
        self.redis = redis
        self.adapter = adapter
        self.settings = settings
        self.clock = clock
        self.policy = policy
        self.cache = CandleCache(redis, settings.max_candles, settings.scan_chunk)
        self.scanner = CandleStatusScanner(self.cache, settings.min_candle_threshold, clock)
        self.builder = WarmupScheduleBuilder(redis, settings.default_candle_target, clock)

    async def is_running(self, exchange_id: int) -> bool:
        """Whether any process holds the warmup lease of this exchange right now."""
        return bool(await self.redis.exists(warmup_lock_key(exchange_id)))

    async def run(
        self,
        exchange_id: int,
        symbols: Sequence[str],
        timeframes: Sequence[Timeframe] | None = None,
        *,
        cancel: asyncio.Event | None = None,
        on_progress: Callable[[WarmupStats], None] | None = None,
    ) -> WarmupReport:
        """Scan, persist the schedule, execute it. Raises WarmupAlreadyRunning; anything else that
        goes wrong ends the run with status `error` and a message, never a stale `fetching`."""
        try:
            async with LeaseLock(self.redis, warmup_lock_key(exchange_id), self.settings.lock_ttl_s) as lease:
                run = _Run(self, exchange_id, symbols, cancel or asyncio.Event(), lease.lost, on_progress)
                return await run.execute(list(timeframes or SCAN_TIMEFRAME_ORDER))
        except LockHeldError:
            raise WarmupAlreadyRunning(f"a warmup of exchange {exchange_id} is already running") from None


class _Run:
    """The state of one run: stats, report, the entry queue and the workers draining it."""

    def __init__(
        self,
        service: SmartWarmupService,
        exchange_id: int,
        symbols: Sequence[str],
        cancel: asyncio.Event,
        lost: asyncio.Event,
        on_progress: Callable[[WarmupStats], None] | None,
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
            exchange_id=exchange_id, started_at=now, updated_at=now, mode="smart",
            total_symbols=len(self.symbols), policy=service.policy,
        )
        self.report = WarmupReport(exchange_id, service.policy)
        self.publisher = StatsPublisher(service.redis, exchange_id, service.settings.stats_interval_s)
        self.queue = EntryQueue(service.redis, exchange_id, consumer=uuid.uuid4().hex)
        self.fetch_started = now
        self.banned: ExchangeBannedError | None = None

    async def execute(self, timeframes: list[Timeframe]) -> WarmupReport:
        try:
            await self._publish(force=True)
            schedule = await self._plan(timeframes)
            await self._drain(schedule)
            self._finish("error" if self._stopped() else "complete", self._stop_reason())
        except Exception as e:
            log.exception("warmup of exchange %s failed", self.exchange_id)
            self._finish("error", f"{type(e).__name__}: {e}")
        await self._publish(force=True)
        return self.report

    async def _plan(self, timeframes: list[Timeframe]) -> WarmupSchedule:
        results = await self.s.scanner.scan(self.exchange_id, self.symbols, timeframes)
        schedule = await self.s.builder.build_and_persist(self.exchange_id, results, mode="smart")
        await self.queue.reset(schedule.entries)
        self.report.pairs_total = schedule.total_pairs
        self.report.sufficient = schedule.sufficient_pairs
        self.report.scheduled = schedule.needs_fetching
        self.stats.total_pairs = schedule.needs_fetching
        self.stats.skipped_pairs = schedule.sufficient_pairs
        self.stats.status = "fetching"
        self.fetch_started = self.s.clock()
        await self._publish(force=True)
        return schedule

    async def _drain(self, schedule: WarmupSchedule) -> None:
        if not schedule.entries:
            return
        if self.s.policy == "seed":
            await self._drain_seed()
        else:
            workers = min(self.s.settings.max_in_flight, len(schedule.entries))
            await asyncio.gather(*(self._worker() for _ in range(workers)))

    async def _worker(self) -> None:
        """Claim one entry at a time; the rate limiter inside the adapter paces the requests."""
        while not self._stopped() and (claimed := await self.queue.claim(1)):
            await self._run_entries(claimed)

    async def _drain_seed(self) -> None:
        """The original's policy: 5 entries side by side, then sleep a second, whatever the budget."""
        while not self._stopped() and (claimed := await self.queue.claim(SEED_BATCH)):
            await self._run_entries(claimed)
            await asyncio.sleep(SEED_PAUSE_S)

    async def _run_entries(self, claimed: list[tuple[bytes, WarmupScheduleEntry]]) -> None:
        await asyncio.gather(*(self._run_entry(entry) for _, entry in claimed))
        await self.queue.complete(*(mid for mid, _ in claimed))
        await self._publish()

    async def _run_entry(self, entry: WarmupScheduleEntry) -> None:
        """One failing entry is recorded and the run goes on."""
        self.stats.current_symbol, self.stats.current_timeframe = entry.symbol, entry.timeframe.value
        try:
            written = await fetch_and_store(
                self.s.adapter, self.s.cache, self.exchange_id, entry.symbol, entry.timeframe,
                entry.fetch_from, self.s.clock,
            )
        except Exception as e:
            if isinstance(e, ExchangeBannedError):
                self.banned = e  # stop claiming: waiting out a ban of minutes to days helps nobody
            log.warning("warmup %s %s failed: %s", entry.symbol, entry.timeframe.value, e)
            self.stats.failed_pairs += 1
            self.stats.failures.append(Failure(symbol=entry.symbol, timeframe=entry.timeframe.value, error=str(e) or type(e).__name__))
            return
        self.stats.completed_pairs += 1
        self.stats.candles_written += written

    def _stopped(self) -> bool:
        return self.cancel.is_set() or self.lost.is_set() or self.banned is not None

    def _stop_reason(self) -> str | None:
        if self.banned is not None:
            left = self.stats.total_pairs - self.stats.completed_pairs - self.stats.failed_pairs
            return f"stopped: {self.banned}; {left} pairs left for the next run"
        if self.lost.is_set():
            return "lease lost"
        return "cancelled" if self.cancel.is_set() else None

    def _finish(self, status: Literal["complete", "error"], message: str | None) -> None:
        self.stats.status = status
        self.stats.message = message
        self.stats.current_symbol = self.stats.current_timeframe = None
        self._refresh()
        r = self.report
        r.status, r.message = status, message
        r.completed, r.failed = self.stats.completed_pairs, self.stats.failed_pairs
        r.candles_written = self.stats.candles_written
        r.failures = [f.model_dump() for f in self.stats.failures]
        r.duration_s = round(time.monotonic() - self.started, 3)
        log.info("warmup of exchange %s %s: %s", self.exchange_id, status, r.as_dict())

    def _refresh(self) -> None:
        """Bring counters, percent and ETA up to date."""
        now = self.s.clock()
        m = self.s.adapter.metrics.as_dict()
        d = {k: m[k] - self.metrics_at_start[k] for k in m}
        self.stats.rest_calls, self.stats.weight_used = d["requests"], d["weight_used"]
        self.stats.throttled, self.stats.banned = d["throttled"], d["banned"]
        self.report.rest_calls, self.report.weight_used = d["requests"], d["weight_used"]
        self.report.throttled, self.report.banned, self.report.retries = d["throttled"], d["banned"], d["retries"]
        self.stats.updated_at = now
        self.stats.progress(self.fetch_started, now)

    async def _publish(self, force: bool = False) -> None:
        self._refresh()
        await self.publisher.publish(self.stats, force=force)
        if self.on_progress is not None:
            self.on_progress(self.stats)
