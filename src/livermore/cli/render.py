"""Terminal rendering for the CLI: tables of scans, schedules and run reports."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.table import Table

from livermore.warmup import CandleStatusResult, WarmupSchedule, WarmupStats


def scan_table(results: Sequence[CandleStatusResult]) -> Table:
    table = Table(title=f"Scan: {len(results)} pairs, {sum(r.sufficient for r in results)} sufficient")
    for col in ("symbol", "timeframe", "cached", "newest open (ms)", "verdict"):
        table.add_column(col)
    for r in results:
        style = "green" if r.sufficient else "yellow"
        table.add_row(
            r.symbol, r.timeframe.value, str(r.cached_count), str(r.newest_open_time or "-"), f"[{style}]{r.reason}"
        )
    return table


def schedule_table(schedule: WarmupSchedule) -> Table:
    table = Table(
        title=f"Schedule of exchange {schedule.exchange_id}: {schedule.needs_fetching} of "
        f"{schedule.total_pairs} pairs need fetching"
    )
    for col in ("symbol", "timeframe", "cached", "target", "reason", "fetch from (ms)"):
        table.add_column(col)
    for e in schedule.entries:
        table.add_row(
            e.symbol, e.timeframe.value, str(e.cached_count), str(e.target_count), e.reason, str(e.fetch_from)
        )
    return table


REPORT_ROWS: tuple[tuple[str, Callable[[WarmupStats], object]], ...] = (
    ("outcome", lambda s: s.outcome or s.status),
    ("pairs", lambda s: s.scanned_pairs),
    ("sufficient (skipped)", lambda s: s.skipped_pairs),
    ("scheduled", lambda s: s.total_pairs),
    ("completed", lambda s: s.completed_pairs),
    ("failed", lambda s: s.failed_pairs),
    ("REST calls", lambda s: s.rest_calls),
    ("weight used", lambda s: s.weight_used),
    ("429s", lambda s: s.throttled),
    ("418s", lambda s: s.banned),
    ("candles written", lambda s: s.candles_written),
    ("duration (s)", lambda s: s.duration_ms / 1000),
)


def reports_table(reports: Sequence[tuple[str, WarmupStats]]) -> Table:
    """Summaries side by side, one column per run."""
    table = Table(title="Warmup summary")
    table.add_column("")
    for title, _ in reports:
        table.add_column(title, justify="right")
    for label, value in REPORT_ROWS:
        table.add_row(label, *(str(value(r)) for _, r in reports))
    return table


def failures_table(report: WarmupStats) -> Table:
    table = Table(title=f"{report.failed_pairs} failed pairs", style="red")
    for col in ("symbol", "timeframe", "error"):
        table.add_column(col)
    for f in report.failures:
        table.add_row(f.symbol, f.timeframe, f.error)
    return table
