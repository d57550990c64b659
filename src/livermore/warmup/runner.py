"""WarmupRunner: the exchange's current job in this process (a warmup or an ad-hoc backfill), one at
a time, in the background, cancellable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Literal

from livermore.errors import BackfillRunning, WarmupAlreadyRunning
from livermore.models import Timeframe
from livermore.warmup.ending import StopRequest
from livermore.warmup.execute import WarmupService
from livermore.warmup.stats import WarmupStats

log = logging.getLogger(__name__)

ReportSink = Callable[[WarmupStats], None]
JobKind = Literal["warmup", "backfill"]
Job = Callable[[StopRequest], Coroutine[Any, Any, WarmupStats]]
NAMED_SYMBOLS = 3  # a backfill of more symbols is described by their count


class WarmupRunner:
    """Runs the exchange's current job as a task, a warmup (`start`) or a backfill (`backfill`), so
    a caller (the control channel, the admin app) keeps answering `status` and `cancel` while it goes.

    One job at a time: both write the same pairs from their own scan and share the exchange's
    request budget. A second job is refused up front: here if our task runs (BackfillRunning when it
    is a backfill), or if the Redis lease is held (another process); the service's own lease, which
    both jobs take, still settles a race between the two checks. `cancel()` and `stop()` end either.

    `pause()` holds the drain before its next claim (the current run's, or the next run's until a
    `resume()`); `resume()` lets it go on with the same schedule. `cancel()` ends the run and lifts
    the pause, so the next start is not held by a pause nobody remembers. Only warmups pause: a
    backfill is the operator's own request, and a pause left on would hold it with no word.
    """

    def __init__(self, service: WarmupService, exchange_id: int, on_report: ReportSink | None = None):
        """
        :param on_report: called with the final stats of every warmup (metrics; a backfill is no run).
        """
        self.service = service
        self.exchange_id = exchange_id
        self.on_report = on_report
        self._task: asyncio.Task[WarmupStats] | None = None
        self._kind: JobKind = "warmup"
        self._stop = StopRequest()
        self._gate = asyncio.Event()
        self._gate.set()

    @property
    def paused(self) -> bool:
        return not self._gate.is_set()

    def pause(self) -> bool:
        """Stop claiming entries after the ones in flight; False if already paused."""
        if self.paused:
            return False
        self._gate.clear()
        return True

    def resume(self) -> bool:
        """Go on claiming from where the pause left the schedule; False if not paused."""
        if not self.paused:
            return False
        self._gate.set()
        return True

    async def wait(self, timeout_s: float | None = None) -> WarmupStats | None:
        """The final stats of the current (or last) job once it ended; None if none ever started,
        it did not run (its error is logged) or it has not ended within `timeout_s`."""
        task = self._task
        if task is None:
            return None
        await asyncio.wait({task}, timeout=timeout_s)
        if not task.done() or task.cancelled() or task.exception() is not None:
            return None
        return task.result()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def job(self) -> JobKind | None:
        """What runs now, if anything."""
        return self._kind if self.running else None

    async def start(self, symbols: Sequence[str], timeframes: Sequence[Timeframe]) -> asyncio.Task[WarmupStats]:
        """Start a warmup; the task resolves to its final stats. Raises WarmupAlreadyRunning
        (BackfillRunning while a backfill runs here)."""
        symbols, timeframes = list(symbols), list(timeframes)
        what = f"a warmup of exchange {self.exchange_id}"
        return await self._launch("warmup", what, lambda stop: self._warm(symbols, timeframes, stop))

    async def backfill(self, symbols: Sequence[str], timeframes: Sequence[Timeframe]) -> asyncio.Task[WarmupStats]:
        """Start the ad-hoc backfill of `symbols` (WarmupService.backfill); raises like `start`."""
        symbols, timeframes = list(symbols), list(timeframes)
        what = f"a backfill of {_names(symbols)} on exchange {self.exchange_id}"
        return await self._launch(
            "backfill", what, lambda stop: self.service.backfill(self.exchange_id, symbols, timeframes, stop=stop)
        )

    async def _launch(self, kind: JobKind, what: str, job: Job) -> asyncio.Task[WarmupStats]:
        held = await self.service.is_running(self.exchange_id)
        task = self._task
        if task is not None and not task.done():  # checked after the await: no job slips in before the task is set
            busy = BackfillRunning if self._kind == "backfill" else WarmupAlreadyRunning
            raise busy(f"{task.get_name()} is already running; cancel it or wait for its end")
        if held:
            raise WarmupAlreadyRunning(
                f"a warmup or backfill of exchange {self.exchange_id} is already running in another process"
            )
        self._stop, self._kind = StopRequest(), kind
        self._task = asyncio.create_task(job(self._stop), name=what)
        self._task.add_done_callback(_log_outcome)
        return self._task

    async def _warm(self, symbols: list[str], timeframes: list[Timeframe], stop: StopRequest) -> WarmupStats:
        stats = await self.service.run(self.exchange_id, symbols, timeframes, stop=stop, gate=self._gate)
        if self.on_report is not None:
            self.on_report(stats)
        return stats

    def cancel(self) -> bool:
        """Ask the running job to stop within one request; False if none runs."""
        if not self.running:
            return False
        self._stop.request("cancelled", "cancelled by an operator")
        self._gate.set()
        return True

    async def stop(self) -> None:
        """Interrupt and wait for the job to record its final stats (for shutdown)."""
        task = self._task
        if task is None or task.done():
            return
        self._stop.request("interrupted", "the service shut down")
        with contextlib.suppress(Exception):
            await task


def _names(symbols: list[str]) -> str:
    return ", ".join(symbols) if len(symbols) <= NAMED_SYMBOLS else f"{len(symbols)} symbols"


def _log_outcome(task: asyncio.Task[WarmupStats]) -> None:
    """Retrieve the outcome, so a job started over HTTP (nobody awaits it) never goes unreported."""
    if task.cancelled():
        return
    if (exc := task.exception()) is not None:
        log.warning("%s did not run: %s", task.get_name(), exc)
    elif (stats := task.result()).outcome != "complete":
        log.warning("%s ended %s: %s", task.get_name(), stats.outcome, stats.message)
