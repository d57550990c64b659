"""Terminal rendering for the CLI: tables, the live progress bar, plain lines when not a terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from livermore.models import Timeframe
from livermore.warmup import CandleStatusResult, SmartWarmupService, WarmupReport, WarmupSchedule, WarmupStats


def scan_table(results: Sequence[CandleStatusResult]) -> Table:
    table = Table(title=f"Scan: {len(results)} pairs, {sum(r.sufficient for r in results)} sufficient")
    for col in ("symbol", "timeframe", "cached", "newest open (ms)", "verdict"):
        table.add_column(col)
    for r in results:
        style = "green" if r.sufficient else "yellow"
        table.add_row(r.symbol, r.timeframe.value, str(r.cached_count), str(r.newest_open_time or "-"), f"[{style}]{r.reason}")
    return table


def schedule_table(schedule: WarmupSchedule) -> Table:
    table = Table(
        title=f"Schedule of exchange {schedule.exchange_id}: {schedule.needs_fetching} of "
        f"{schedule.total_pairs} pairs need fetching"
    )
    for col in ("symbol", "timeframe", "cached", "target", "reason", "fetch from (ms)"):
        table.add_column(col)
    for e in schedule.entries:
        table.add_row(e.symbol, e.timeframe.value, str(e.cached_count), str(e.target_count), e.reason, str(e.fetch_from))
    return table


REPORT_ROWS = (
    ("status", "status"), ("pairs", "pairs_total"), ("sufficient (skipped)", "sufficient"),
    ("scheduled", "scheduled"), ("completed", "completed"), ("failed", "failed"),
    ("REST calls", "rest_calls"), ("weight used", "weight_used"), ("429s", "throttled"),
    ("418s", "banned"), ("candles written", "candles_written"), ("duration (s)", "duration_s"),
)


def reports_table(reports: Sequence[tuple[str, WarmupReport]]) -> Table:
    """Summaries side by side, one column per run."""
    table = Table(title="Warmup summary")
    table.add_column("")
    for title, _ in reports:
        table.add_column(title, justify="right")
    for label, attr in REPORT_ROWS:
        table.add_row(label, *(str(getattr(r, attr)) for _, r in reports))
    return table


def failures_table(report: WarmupReport) -> Table:
    table = Table(title=f"{report.failed} failed pairs", style="red")
    for col in ("symbol", "timeframe", "error"):
        table.add_column(col)
    for f in report.failures:
        table.add_row(f["symbol"], f["timeframe"], f["error"])
    return table


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
                TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                TimeRemainingColumn(), TextColumn("{task.fields[current]}"), TextColumn("[red]{task.fields[failed]}"),
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
                self.task, total=max(stats.total_pairs, 1),
                completed=stats.completed_pairs + stats.failed_pairs if stats.total_pairs else 1,
                current=current, failed=f"{stats.failed_pairs} failed" if stats.failed_pairs else "",
            )

    def _line(self, stats: WarmupStats) -> str:
        return (
            f"{self.title}: {stats.status} pairs={stats.total_pairs} skipped={stats.skipped_pairs} "
            f"completed={stats.completed_pairs} failed={stats.failed_pairs} rest_calls={stats.rest_calls}"
        )

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.stop()


async def warm(
    service: SmartWarmupService, exchange_id: int, symbols: Sequence[str], timeframes: Sequence[Timeframe],
    title: str, console: Console | None,
) -> WarmupReport:
    """One warmup with a live view on `console` (progress bar on a terminal, plain lines otherwise)."""
    with ProgressView(console or Console(quiet=True), title) as view:
        return await service.run(exchange_id, symbols, timeframes, on_progress=view.update)
