"""A warmup with a live view: a rich progress bar on a terminal; when output is a log (not a
terminal), one plain line at each phase and every few seconds, so a log shows the run as it goes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from livermore.models import Timeframe
from livermore.warmup import WarmupService, WarmupStats
from livermore.warmup.ending import StopRequest

PLAIN_EVERY_S = 5.0  # a log gets a line this often while a phase lasts
RATE_AFTER_S = 1.0  # a rate over a shorter time says nothing
STALLED_S = 1.0  # no pair done for this long while fetching: say what we wait for, if we know


class LimiterView:
    """What the adapter's limiter can truthfully tell a viewer: the weight spent in its window
    against the budget (Binance's WeightLimiter), its rate (Coinbase's TokenBucket), and whether
    requests now wait for the window to roll or for an exchange's Retry-After."""

    def __init__(self, limiter: Any):
        self.limiter = limiter
        self.clock: Callable[[], float] = getattr(limiter, "clock", time.time)

    def budget(self) -> str:
        budget, window = getattr(self.limiter, "budget", None), getattr(self.limiter, "window_s", None)
        if isinstance(budget, int) and window:
            return f"weight {self.limiter.used}/{budget} per {window:g}s"
        rate = getattr(self.limiter, "rate", None)
        return f"limit {rate:g} req/s" if rate else ""

    def waiting(self) -> str:
        """Why requests wait now, or "" when the limiter is not what holds them."""
        now = self.clock()
        paused = getattr(self.limiter, "paused_until", 0.0) - now
        if paused > 0:
            return f"paused by the exchange (Retry-After, {paused:.0f} s)"
        budget, window = getattr(self.limiter, "budget", None), getattr(self.limiter, "window_s", None)
        if isinstance(budget, int) and window and self.limiter.used >= budget * 0.95:
            return f"waiting for the rate-limit window ({window - now % window:.0f} s)"
        return ""


class ProgressView:
    """Feeds on the run's stats (`update`) and on a clock tick (`tick`, about once a second)."""

    def __init__(self, console: Console, title: str, limiter: Any = None, clock: Callable[[], float] = time.monotonic):
        self.console = console
        self.title = title
        self.limiter = LimiterView(limiter) if limiter is not None else None
        self.clock = clock
        self.stats: WarmupStats | None = None
        self.phase: str | None = None
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self._fetch_since: float | None = None  # when pairs started being fetched (for pairs/s)
        self._last_done = (0, clock())  # pairs done, and when that count last changed
        self._last_line = 0.0

    def __enter__(self) -> ProgressView:
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[detail]}"),
                TextColumn("[red]{task.fields[failed]}"),
                console=self.console,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.title, total=1, detail="", failed="")
        return self

    def update(self, stats: WarmupStats) -> None:
        now = self.clock()
        self.stats = stats
        if stats.status != "scanning" and self._fetch_since is None:
            self._fetch_since = now
        if stats.done_pairs != self._last_done[0]:
            self._last_done = (stats.done_pairs, now)
        if stats.status != self.phase:
            self.phase = stats.status
            self._plain(now)
        self._refresh()

    def tick(self) -> None:
        """Once a second: the bar's rate and waits move on; a log gets its periodic line."""
        now = self.clock()
        if self.stats is not None and self.progress is None and now - self._last_line >= PLAIN_EVERY_S:
            self._plain(now)
        self._refresh()

    def line(self) -> str:
        """One plain line: phase or outcome, done/total, pairs/s, weight vs budget, and any wait."""
        s = self.stats
        if s is None:
            return f"{self.title}: waiting for the first stats"
        parts = [f"{self.title}: {s.outcome or s.status}", self.detail()]
        if s.failed_pairs:
            parts.append(f"{s.failed_pairs} failed")
        parts.append(f"skipped={s.skipped_pairs} rest_calls={s.rest_calls}")
        return "  ".join(p for p in parts if p)

    def detail(self) -> str:
        s = self.stats
        if s is None:
            return ""
        now = self.clock()
        parts = [f"{s.done_pairs}/{s.total_pairs} pairs"]
        if self._fetch_since is not None and s.done_pairs and now - self._fetch_since >= RATE_AFTER_S:
            parts.append(f"{s.done_pairs / (now - self._fetch_since):.1f} pairs/s")
        parts.append(self.limiter.budget() if self.limiter else f"weight {s.weight_used}")
        if s.running and s.status != "scanning" and now - self._last_done[1] > STALLED_S and self.limiter:
            parts.append(self.limiter.waiting())
        return "  ".join(p for p in parts if p)

    def _plain(self, now: float) -> None:
        if self.progress is None:
            self._last_line = now
            self.console.print(self.line(), soft_wrap=True, highlight=False)

    def _refresh(self) -> None:
        if self.progress is None or self.task is None or self.stats is None:
            return
        s = self.stats
        self.progress.update(
            self.task,
            total=max(s.total_pairs, 1),
            completed=s.done_pairs if s.total_pairs else 1,
            detail=self.detail(),
            failed=f"{s.failed_pairs} failed" if s.failed_pairs else "",
        )

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.stop()


async def warm(
    service: WarmupService,
    exchange_id: int,
    symbols: Sequence[str],
    timeframes: Sequence[Timeframe],
    title: str,
    console: Console | None,
    stop: StopRequest | None = None,
) -> WarmupStats:
    """One warmup with a live view on `console` (progress bar on a terminal, plain lines otherwise)."""
    limiter = getattr(service.adapter, "limiter", None)
    with ProgressView(console or Console(quiet=True), title, limiter) as view:
        ticking = asyncio.create_task(_tick(view))
        try:
            return await service.run(exchange_id, symbols, timeframes, stop=stop, on_progress=view.update)
        finally:
            ticking.cancel()


async def _tick(view: ProgressView) -> None:
    while True:
        await asyncio.sleep(1.0)
        view.tick()
