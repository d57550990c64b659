"""WarmupScheduleBuilder: only insufficient pairs are scheduled; a stale or partial, whole pair whose
coverage reaches into the target window is fetched from its newest covered open time (the tail),
anything else from the window start; a full refresh schedules every pair from the window start."""

from __future__ import annotations

import pytest

from livermore.cache import PairWindow
from livermore.models import Timeframe
from livermore.warmup.scan import CandleStatusResult, Reason, verdict
from livermore.warmup.schedule import WarmupScheduleBuilder

TF = Timeframe.M5
NOW = 1_700_000_123_456
WINDOW_START = 1_699_970_400_000  # floor(NOW) 1_700_000_100_000 minus 99 intervals of 5m
THRESHOLD = 60


def builder() -> WarmupScheduleBuilder:
    return WarmupScheduleBuilder(target=100, clock=lambda: NOW)


def result(
    symbol: str,
    reason: Reason,
    count: int = 100,
    newest: int | None = None,
    whole: bool = True,
    covered: int | None = None,
) -> CandleStatusResult:
    """A verdict whose coverage ends at its newest candle unless told."""
    return CandleStatusResult(symbol, TF, count, newest, reason == "ok", reason, whole, covered or newest)


def test_window_start() -> None:
    b = builder()
    assert b.window_start(TF, NOW) == WINDOW_START
    assert b.window_start(TF, TF.floor(NOW)) == WINDOW_START
    assert b.window_start(Timeframe.H1, 10 * Timeframe.H1.ms) == -89 * Timeframe.H1.ms
    assert WarmupScheduleBuilder(target=1).window_start(TF, NOW) == TF.floor(NOW)


def test_build_schedules_only_insufficient_pairs() -> None:
    tail = WINDOW_START + 50 * TF.ms
    results = [
        result("OK", "ok", newest=TF.floor(NOW)),
        result("TAIL", "stale", newest=tail),
        result("EMPTY", "empty", count=0),
    ]
    s = builder().build(3, results)
    assert (s.exchange_id, s.created_at, s.mode) == (3, NOW, "smart")
    assert (s.total_pairs, s.sufficient_pairs, s.needs_fetching) == (3, 1, 2)
    assert [(e.symbol, e.reason, e.cached_count, e.target_count, e.fetch_from) for e in s.entries] == [
        ("TAIL", "stale", 100, 100, tail),
        ("EMPTY", "empty", 0, 100, WINDOW_START),
    ]


@pytest.mark.parametrize(
    ("r", "fetch_from"),
    [
        (result("TAIL", "stale", newest=WINDOW_START + 3 * TF.ms), WINDOW_START + 3 * TF.ms),
        # an illiquid pair: its silence was confirmed after its newest candle; the tail starts there
        (result("QUIET", "stale", newest=WINDOW_START, covered=WINDOW_START + 9 * TF.ms), WINDOW_START + 9 * TF.ms),
        # the newest candle was fetched while its interval was open: fetched again, with what follows
        (result("PARTIAL", "partial", newest=TF.floor(NOW) - TF.ms), TF.floor(NOW) - TF.ms),
        (result("PARTGAP", "partial", newest=TF.floor(NOW) - TF.ms, whole=False), WINDOW_START),
        (result("EDGE", "stale", newest=WINDOW_START), WINDOW_START),
        (result("FAR", "stale", newest=WINDOW_START - TF.ms), WINDOW_START),
        (result("HOLED", "stale", newest=WINDOW_START + 3 * TF.ms, whole=False), WINDOW_START),
        (result("EMPTY", "empty", count=0), WINDOW_START),
        (result("GAP", "gap", newest=TF.floor(NOW), whole=False), WINDOW_START),
        (result("LOW", "low_count", count=10, newest=TF.floor(NOW)), WINDOW_START),
    ],
    ids=lambda v: v.symbol if isinstance(v, CandleStatusResult) else "",
)
def test_fetch_from(r: CandleStatusResult, fetch_from: int) -> None:
    assert builder().fetch_from(r, NOW) == fetch_from


def test_full_refresh_schedules_every_pair_from_the_window_start() -> None:
    results = [result("OK", "ok", newest=TF.floor(NOW)), result("TAIL", "stale", newest=WINDOW_START + TF.ms)]
    s = builder().full_refresh(4, results)
    assert (s.mode, s.total_pairs, s.sufficient_pairs, s.needs_fetching) == ("backfill", 2, 0, 2)
    assert [(e.symbol, e.reason, e.fetch_from) for e in s.entries] == [
        ("OK", "full_refresh", WINDOW_START),
        ("TAIL", "full_refresh", WINDOW_START),
    ]


@pytest.mark.parametrize(
    "w",
    [
        # 30 contiguous candles, no known listing time: a tail alone would leave 41 < 60
        PairWindow("SHORT", TF, 30, TF.floor(NOW) - 10 * TF.ms, 30),
        # a recent listing (10 intervals) holding 9: a tail alone would never refetch the hole
        PairWindow("LISTED", TF, 9, TF.floor(NOW) - 10 * TF.ms, 9, TF.floor(NOW) - 19 * TF.ms),
    ],
    ids=["short", "listing-with-hole"],
)
def test_stale_short_series_is_fetched_from_the_window_start(w: PairWindow) -> None:
    r = verdict(w, THRESHOLD, NOW)
    assert r.reason == "stale"
    [entry] = builder().build(1, [r]).entries
    assert entry.fetch_from == WINDOW_START
