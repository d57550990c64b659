"""WarmupRunner: at most one warmup per exchange in this process, in the background, cancellable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from livermore.errors import WarmupAlreadyRunning
from livermore.models import Timeframe
from livermore.warmup.execute import StopRequest, WarmupService
from livermore.warmup.stats import WarmupStats

log = logging.getLogger(__name__)

ReportSink = Callable[[WarmupStats], None]


class WarmupRunner:
    """Runs the warmup as a task so a caller (the control channel, the admin app) keeps answering
    `status` and `cancel` while it goes.

    A second start is refused up front: here if our task runs, or if the Redis lease is held
    (another process); the service's own lease still settles a race between the two checks.

    `pause()` holds the drain before its next claim (the current run's, or the next run's until a
    `resume()`); `resume()` lets it go on with the same schedule. `cancel()` ends the run and lifts
    the pause, so the next start is not held by a pause nobody remembers.
    """

    def __init__(self, service: WarmupService, exchange_id: int, on_report: ReportSink | None = None):
        """
        :param on_report: called with the final stats of every run (metrics).
        """
        self.service = service
        self.exchange_id = exchange_id
        self.on_report = on_report
        self._task: asyncio.Task[WarmupStats] | None = None
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
        """The final stats of the current (or last) run once it ended; None if none ever started,
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

    async def start(self, symbols: Sequence[str], timeframes: Sequence[Timeframe]) -> asyncio.Task[WarmupStats]:
        """Start a run; the task resolves to its final stats. Raises WarmupAlreadyRunning."""
        held = await self.service.is_running(self.exchange_id)
        if self.running:  # checked after the await: no other start can slip in before the task is set
            raise WarmupAlreadyRunning(f"a warmup of exchange {self.exchange_id} is already running; cancel it first")
        if held:
            raise WarmupAlreadyRunning(f"a warmup of exchange {self.exchange_id} is already running in another process")
        self._stop = StopRequest()
        self._task = asyncio.create_task(self._run(list(symbols), list(timeframes), self._stop))
        self._task.add_done_callback(_log_outcome)
        return self._task

    async def _run(self, symbols: list[str], timeframes: list[Timeframe], stop: StopRequest) -> WarmupStats:
        stats = await self.service.run(self.exchange_id, symbols, timeframes, stop=stop, gate=self._gate)
        if self.on_report is not None:
            self.on_report(stats)
        return stats

    def cancel(self) -> bool:
        """Ask the running warmup to stop at the next entry boundary; False if none runs."""
        if not self.running:
            return False
        self._stop.request("cancelled", "cancelled by an operator")
        self._gate.set()
        return True

    async def stop(self) -> None:
        """Interrupt and wait for the run to record its final stats (for shutdown)."""
        task = self._task
        if task is None or task.done():
            return
        self._stop.request("interrupted", "the service shut down")
        with contextlib.suppress(Exception):
            await task


def _log_outcome(task: asyncio.Task[WarmupStats]) -> None:
    """Retrieve the outcome, so a run started over HTTP (nobody awaits it) never goes unreported."""
    if task.cancelled():
        return
    if (exc := task.exception()) is not None:
        log.warning("warmup did not run: %s", exc)
    elif (stats := task.result()).outcome != "complete":
        log.warning("warmup ended %s: %s", stats.outcome, stats.message)
