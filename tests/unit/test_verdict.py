"""verdict: the scan's rule for one pair: empty (nothing held or covered), stale (coverage older than
the last closed interval), low_count (too few known intervals and not a whole recent listing), gap (a
hole in the newest `threshold`), partial (the newest candle was fetched before its interval closed),
else ok. Known intervals are candles and intervals the exchange confirmed empty (the ledger)."""

from __future__ import annotations

import pytest

from livermore.cache import PairWindow
from livermore.models import Timeframe
from livermore.warmup.scan import CandleStatusResult, verdict

TF = Timeframe.M5
NOW = 1_700_000_123_456
THRESHOLD = 60
OPEN = TF.floor(NOW)  # the interval still open at NOW
LAST_CLOSED = OPEN - TF.ms


def judge(
    count: int,
    newest: int | None,
    window: int,
    history_start: int | None = None,
    *,
    empty: int = 0,
    answered_to: int | None = None,
    fetched_at: int | None = None,
) -> CandleStatusResult:
    w = PairWindow("BTC-USD", TF, count, newest, window, history_start, empty, answered_to, fetched_at)
    return verdict(w, THRESHOLD, NOW)


@pytest.mark.parametrize(
    ("count", "newest", "window", "reason", "whole"),
    [
        (0, None, 0, "empty", False),
        (100, LAST_CLOSED - TF.ms, 60, "stale", True),
        (30, LAST_CLOSED, 30, "low_count", False),
        (100, LAST_CLOSED, 59, "gap", False),
        (100, LAST_CLOSED, 60, "ok", True),
        (60, OPEN, 60, "ok", True),
    ],
)
def test_each_reason(count: int, newest: int | None, window: int, reason: str, whole: bool) -> None:
    r = judge(count, newest, window)
    assert (r.reason, r.sufficient, r.whole) == (reason, reason == "ok", whole)
    assert (r.symbol, r.timeframe, r.cached_count, r.newest_open_time) == ("BTC-USD", TF, count, newest)
    assert r.covered_to == newest  # no ledger entry: coverage ends at the newest candle


def test_fresh_means_the_last_closed_interval() -> None:
    assert judge(100, LAST_CLOSED, 60).reason == "ok"
    assert judge(100, LAST_CLOSED - TF.ms, 60).reason == "stale"
    assert judge(100, LAST_CLOSED - 1, 60).reason == "stale"


def test_freshness_is_judged_by_coverage() -> None:
    """An illiquid pair (Coinbase) whose newest candle is old but whose silence the exchange
    confirmed up to the last closed interval is fresh; confirmed only up to an older one, stale.
    Without a confirmed silence (Binance: a missing interval is an outage), an old newest candle is stale."""
    old = LAST_CLOSED - 10 * TF.ms
    quiet = judge(80, old, 60, empty=30, answered_to=LAST_CLOSED, fetched_at=NOW - 1000)
    assert (quiet.reason, quiet.sufficient, quiet.covered_to) == ("ok", True, LAST_CLOSED)
    aged = judge(80, old, 60, empty=30, answered_to=LAST_CLOSED - TF.ms, fetched_at=NOW - TF.ms)
    assert (aged.reason, aged.whole, aged.covered_to) == ("stale", True, LAST_CLOSED - TF.ms)
    assert judge(100, old, 60, answered_to=old, fetched_at=NOW - 1000).reason == "stale"


def test_confirmed_empty_intervals_count_as_known() -> None:
    assert judge(50, LAST_CLOSED, 60, empty=10, answered_to=LAST_CLOSED).reason == "ok"
    assert judge(50, LAST_CLOSED, 59, empty=10, answered_to=LAST_CLOSED).reason == "gap"
    assert judge(40, LAST_CLOSED, 50, empty=10, answered_to=LAST_CLOSED).reason == "low_count"
    # a pair with no trade at all in the window: nothing held, every interval confirmed empty
    dead = judge(0, None, 60, empty=100, answered_to=LAST_CLOSED)
    assert (dead.reason, dead.covered_to) == ("ok", LAST_CLOSED)


def test_a_newest_candle_fetched_before_its_interval_closed_is_partial() -> None:
    fetched_open = LAST_CLOSED + 30_000  # 30 s into the interval that has closed since
    r = judge(100, LAST_CLOSED, 60, answered_to=LAST_CLOSED, fetched_at=fetched_open)
    assert (r.reason, r.sufficient, r.whole, r.covered_to) == ("partial", False, True, LAST_CLOSED)
    assert judge(100, LAST_CLOSED, 60, answered_to=LAST_CLOSED, fetched_at=OPEN).reason == "ok"  # after it closed
    assert judge(100, OPEN, 60, answered_to=OPEN, fetched_at=OPEN + 1000).reason == "ok"  # still open: nothing to fix
    assert judge(100, LAST_CLOSED, 60, fetched_at=None).reason == "ok"  # unknown: cached before the ledger
    # a hole or too few intervals are fetched from the window start anyway: they win
    assert judge(100, LAST_CLOSED, 59, fetched_at=fetched_open).reason == "gap"
    assert judge(30, LAST_CLOSED, 30, fetched_at=fetched_open).reason == "low_count"


def test_recent_listing_whole_is_ok_with_a_hole_is_low_count() -> None:
    first = LAST_CLOSED - 9 * TF.ms  # 10 intervals since the listing
    whole = judge(10, LAST_CLOSED, 10, history_start=first)
    assert (whole.reason, whole.sufficient) == ("ok", True)
    assert judge(9, LAST_CLOSED, 9, history_start=first).reason == "low_count"
    assert judge(10, LAST_CLOSED, 10, history_start=None).reason == "low_count"
    assert judge(10, LAST_CLOSED, 10, history_start=first - TF.ms).reason == "low_count"


def test_a_stale_pair_is_whole_only_without_a_hole_and_with_enough_candles() -> None:
    """`whole` tells the builder a tail fetch is enough; a hole or a short series needs the window."""
    assert judge(100, LAST_CLOSED - 5 * TF.ms, 58).whole is False
    assert judge(30, LAST_CLOSED - 5 * TF.ms, 30).whole is False
    listed = LAST_CLOSED - 14 * TF.ms  # a recent listing, every interval held: whole
    assert judge(10, LAST_CLOSED - 5 * TF.ms, 10, history_start=listed).whole is True
