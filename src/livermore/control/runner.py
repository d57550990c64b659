"""WarmupRunner: at most one smart warmup per exchange, in the background, cancellable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from livermore.control.protocol import CommandConflict, CommandError
from livermore.models import Timeframe
from livermore.warmup.service import SmartWarmupService, WarmupAlreadyRunning

log = logging.getLogger(__name__)

ReportSink = Callable[[dict[str, Any]], None]


class WarmupRunner:
    """Runs the warmup as a task so the control channel keeps answering `status` and `cancel`.

    A second start is refused up front: here if our task runs, or if the Redis lease is held
    (another process); the service's own lease still settles a race between the two checks.
    """

    def __init__(self, service: SmartWarmupService, exchange_id: int, on_report: ReportSink | None = None):
        self.service = service
        self.exchange_id = exchange_id
        self.on_report = on_report
        self._task: asyncio.Task[dict[str, Any]] | None = None
        self._cancel = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, symbols: Sequence[str], timeframes: Sequence[Timeframe]) -> asyncio.Task[dict[str, Any]]:
        """Start a run; the task resolves to the report, or raises CommandError if it did not complete."""
        held = await self.service.is_running(self.exchange_id)
        if self.running:  # checked after the await: no other start can slip in before the task is set
            raise CommandConflict(f"a warmup of exchange {self.exchange_id} is already running; cancel it first")
        if held:
            raise CommandConflict(f"a warmup of exchange {self.exchange_id} is already running in another process")
        self._cancel = asyncio.Event()
        self._task = asyncio.create_task(self._run(list(symbols), list(timeframes), self._cancel))
        self._task.add_done_callback(_log_outcome)
        return self._task

    async def _run(self, symbols: list[str], timeframes: list[Timeframe], cancel: asyncio.Event) -> dict[str, Any]:
        try:
            report = (await self.service.run(self.exchange_id, symbols, timeframes, cancel=cancel)).as_dict()
        except WarmupAlreadyRunning as e:
            raise CommandConflict(str(e)) from None
        if self.on_report is not None:
            self.on_report(report)
        if report["status"] != "complete":
            raise CommandError(f"warmup ended with status {report['status']}: {report['message']}", report)
        return report

    def cancel(self) -> bool:
        """Ask the running warmup to stop at the next entry boundary; False if none runs."""
        if not self.running:
            return False
        self._cancel.set()
        return True

    async def stop(self) -> None:
        """Cancel and wait for the run to record its final stats (for shutdown)."""
        task = self._task
        if task is None or task.done():
            return
        self._cancel.set()
        with contextlib.suppress(Exception):
            await task


def _log_outcome(task: asyncio.Task[dict[str, Any]]) -> None:
    """Retrieve the outcome, so a run started over HTTP (nobody awaits it) never goes unreported."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("warmup did not complete: %s", exc)
