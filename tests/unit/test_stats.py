"""WarmupStats: percent and ETA from the observed rate, failures named even when the error has no
message, and the JSON in the original's field order with ours after it."""

from __future__ import annotations

import orjson
import pytest

from livermore.warmup.stats import Failure, Outcome, WarmupStats, WorkerTally


def stats(total: int = 0, completed: int = 0, failed: int = 0, skipped: int = 0) -> WarmupStats:
    return WarmupStats(
        exchange_id=1,
        status="fetching",
        started_at=0,
        updated_at=0,
        total_pairs=total,
        completed_pairs=completed,
        failed_pairs=failed,
        skipped_pairs=skipped,
    )


@pytest.mark.parametrize(
    ("total", "completed", "failed", "elapsed", "percent", "eta"),
    [
        (3, 1, 0, 1000, 33, 2000),
        (3, 1, 1, 1000, 67, 500),
        (5, 3, 0, 1000, 60, 667),  # 2 * 1000 / 3 = 666.67
        (7, 2, 0, 1000, 29, 2500),  # 28.57 %
        (4, 4, 0, 1000, 100, 0),
        (4, 0, 0, 1000, 0, None),  # nothing done: no rate yet
        (4, 2, 0, 0, 50, None),  # no time elapsed
        (4, 2, 0, -5, 50, None),
        (0, 0, 0, 1000, 100, None),  # nothing to fetch
    ],
)
def test_progress(total: int, completed: int, failed: int, elapsed: int, percent: int, eta: int | None) -> None:
    s = stats(total, completed, failed)
    s.progress(fetch_started_ms=10_000, now=10_000 + elapsed)
    assert (s.percent_complete, s.eta_ms) == (percent, eta)


def test_percent_is_0_while_scanning_and_100_once_an_empty_schedule_exists() -> None:
    """The original's admin showed "Scanning | 100%" while nothing was known yet."""
    s = stats()
    s.status = "scanning"
    s.progress(fetch_started_ms=0, now=1000)
    assert s.percent_complete == 0
    s.status = "fetching"
    s.progress(fetch_started_ms=0, now=1000)
    assert s.percent_complete == 100


@pytest.mark.parametrize(
    ("outcome", "status"),
    [("complete", "complete"), ("cancelled", "error"), ("interrupted", "error"), ("failed", "error")],
)
def test_end_keeps_the_originals_status_and_says_the_outcome(outcome: Outcome, status: str) -> None:
    s = stats(total=2, completed=1)
    s.current_symbol, s.current_timeframe = "BTC-USD", "5m"
    assert s.running
    s.end(outcome, "why")
    assert (s.status, s.outcome, s.message, s.current_symbol, s.running) == (status, outcome, "why", None, False)


def test_record_failure() -> None:
    s = stats(total=3)
    s.record_failure("BTC-USD", "5m", RuntimeError("boom"))
    s.record_failure("ETH-USD", "1h", TimeoutError())
    assert s.failed_pairs == 2
    assert s.failures == [
        Failure(symbol="BTC-USD", timeframe="5m", error="boom"),
        Failure(symbol="ETH-USD", timeframe="1h", error="TimeoutError"),
    ]


def test_scanned_and_done_pairs() -> None:
    s = stats(total=10, completed=4, failed=2, skipped=7)
    assert (s.scanned_pairs, s.done_pairs) == (17, 6)


def test_json_field_order() -> None:
    doc = orjson.loads(stats().to_json())
    assert list(doc) == [
        # the original's
        "exchangeId",
        "status",
        "mode",
        "startedAt",
        "updatedAt",
        "totalSymbols",
        "totalPairs",
        "completedPairs",
        "skippedPairs",
        "failedPairs",
        "percentComplete",
        "etaMs",
        "touchUpPairs",
        "currentSymbol",
        "currentTimeframe",
        "failures",
        # ours
        "restCalls",
        "weightUsed",
        "candlesWritten",
        "throttled",
        "banned",
        "retries",
        "durationMs",
        "policy",
        "outcome",
        "message",
        "workers",
    ]
    assert (doc["status"], doc["etaMs"], doc["failures"], doc["outcome"]) == ("fetching", None, [], None)


def test_a_run_with_workers_adds_their_shares_and_failures_and_lists_each() -> None:
    local = stats(total=10, completed=3)
    local.candles_written, local.rest_calls = 300, 3
    pass_ = stats(total=0, completed=4)
    pass_.candles_written, pass_.rest_calls, pass_.weight_used = 400, 5, 10
    pass_.record_failure("ETH-USD", "1h", TimeoutError())
    tally = WorkerTally(run=1).add(pass_).add(stats(total=0, completed=1))
    assert (tally.completed_pairs, tally.failed_pairs, tally.rest_calls, len(tally.failures)) == (5, 1, 5, 1)
    whole = local.with_workers({"host-b:42": tally})
    assert (whole.completed_pairs, whole.failed_pairs, whole.done_pairs) == (8, 1, 9)
    assert (whole.candles_written, whole.rest_calls, whole.weight_used) == (700, 8, 10)
    assert whole.failures == [Failure(symbol="ETH-USD", timeframe="1h", error="TimeoutError")]
    assert whole.workers["host-b:42"].completed_pairs == 5
    assert (local.completed_pairs, local.workers) == (3, {})  # the run's own counts are untouched
