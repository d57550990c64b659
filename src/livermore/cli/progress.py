"""A warmup with a live view: a rich progress bar on a terminal, one plain line per phase otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from livermore.models import Timeframe
from livermore.warmup import WarmupService, WarmupStats
from livermore.warmup.execute import StopRequest


class ProgressView:
    """A rich progress bar on a terminal; one plain line per phase change otherwise."""

    def __init__(self, console: Console, title: str):
        self.console = console
        self.title = title
        self.phase: str | None = None
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def __enter__(self) -> ProgressView:
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[current]}"),
                TextColumn("[red]{task.fields[failed]}"),
                console=self.console,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.title, total=1, current="", failed="")
        return self

    def update(self, stats: WarmupStats) -> None:
        if stats.status != self.phase:
            self.phase = stats.status
            if self.progress is None:
                self.console.print(self._line(stats), soft_wrap=True)
        if self.progress is not None and self.task is not None:
            current = f"{stats.current_symbol} {stats.current_timeframe}" if stats.current_symbol else stats.status
            self.progress.update(
                self.task,
                total=max(stats.total_pairs, 1),
                completed=stats.done_pairs if stats.total_pairs else 1,
                current=current,
                failed=f"{stats.failed_pairs} failed" if stats.failed_pairs else "",
            )

    def _line(self, stats: WarmupStats) -> str:
        return (
            f"{self.title}: {stats.outcome or stats.status} pairs={stats.total_pairs} skipped={stats.skipped_pairs} "
            f"completed={stats.completed_pairs} failed={stats.failed_pairs} rest_calls={stats.rest_calls}"
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
    with ProgressView(console or Console(quiet=True), title) as view:
        return await service.run(exchange_id, symbols, timeframes, stop=stop, on_progress=view.update)
