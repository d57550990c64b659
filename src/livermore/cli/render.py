"""Terminal rendering for the CLI: tables of scans, schedules and run reports."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from rich.table import Table

from livermore.models import now_ms
from livermore.warmup import CandleStatusResult, WarmupSchedule, WarmupStats


def utc(ms: int | None) -> str:
    """A Unix ms time as a UTC date a person reads ("2026-11-25 20:01:05Z"); JSON keeps the ms."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def age(ms: int | None, now: int) -> str:
    """How long before `now` (e.g. "3m12s ago"); a time ahead says "in ..."."""
    if ms is None:
        return "-"
    seconds = abs(now - ms) // 1000
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{days}d{hours}h" if days else f"{hours}h{minutes}m" if hours else f"{minutes}m{secs}s"
    return f"{text} ago" if now >= ms else f"in {text}"


def scan_table(results: Sequence[CandleStatusResult], now: int | None = None) -> Table:
    now = now_ms() if now is None else now
    table = Table(title=f"Scan: {len(results)} pairs, {sum(r.sufficient for r in results)} sufficient")
    for col in ("symbol", "timeframe", "cached", "newest open (UTC)", "age", "verdict"):
        table.add_column(col, no_wrap=True)
    for r in results:
        style = "green" if r.sufficient else "yellow"
        newest = r.newest_open_time
        table.add_row(
            r.symbol, r.timeframe.value, str(r.cached_count), utc(newest), age(newest, now), f"[{style}]{r.reason}"
        )
    return table


def schedule_table(schedule: WarmupSchedule, now: int | None = None) -> Table:
    now = now_ms() if now is None else now
    table = Table(
        title=f"Schedule of exchange {schedule.exchange_id}: {schedule.needs_fetching} of "
        f"{schedule.total_pairs} pairs need fetching"
    )
    for col in ("symbol", "timeframe", "cached", "target", "reason", "fetch from (UTC)", "age"):
        table.add_column(col, no_wrap=True)
    for e in schedule.entries:
        table.add_row(
            e.symbol,
            e.timeframe.value,
            str(e.cached_count),
            str(e.target_count),
            e.reason,
            utc(e.fetch_from),
            age(e.fetch_from, now),
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


def status_summary(exchange_id: int, stats: WarmupStats | None, schedule: WarmupSchedule | None, now: int) -> str:
    """`livermore status`: the last (or current) warmup and its schedule, in a few lines a person reads."""
    if stats is None:
        return f"exchange {exchange_id}: no warmup has run (no stats in Redis)"
    lines = [
        f"exchange {exchange_id}: {stats.outcome or stats.status}" + (f" - {stats.message}" if stats.message else ""),
        f"  started   {utc(stats.started_at)} ({age(stats.started_at, now)}), "
        f"updated {utc(stats.updated_at)} ({age(stats.updated_at, now)})",
        f"  duration  {stats.duration_ms / 1000:.1f} s",
        f"  pairs     {stats.scanned_pairs} scanned, {stats.skipped_pairs} sufficient, {stats.total_pairs} scheduled, "
        f"{stats.completed_pairs} completed, {stats.failed_pairs} failed ({stats.percent_complete}%)",
        f"  requests  {stats.rest_calls} REST calls, weight {stats.weight_used}, {stats.throttled} x 429, "
        f"{stats.banned} x 418, {stats.candles_written} candles written",
    ]
    lines += [f"  failed    {f.symbol} {f.timeframe}: {f.error}" for f in stats.failures[:10]]
    if len(stats.failures) > 10:
        lines.append(f"  ... and {len(stats.failures) - 10} more failures (--json lists them all)")
    if schedule is not None:
        lines.append(
            f"  schedule  built {utc(schedule.created_at)} ({age(schedule.created_at, now)}): "
            f"{schedule.needs_fetching} of {schedule.total_pairs} pairs to fetch, "
            f"{schedule.sufficient_pairs} sufficient"
        )
    return "\n".join(lines)
