"""verdict: the scan's rule for one pair: empty, stale (newest older than the last closed interval),
low_count (too few and not a whole recent listing), gap (a hole in the newest `threshold`), else ok."""

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


def judge(count: int, newest: int | None, window: int, history_start: int | None = None) -> CandleStatusResult:
    return verdict(PairWindow("BTC-USD", TF, count, newest, window, history_start), THRESHOLD, NOW)


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


def test_fresh_means_the_last_closed_interval() -> None:
    assert judge(100, LAST_CLOSED, 60).reason == "ok"
    assert judge(100, LAST_CLOSED - TF.ms, 60).reason == "stale"
    assert judge(100, LAST_CLOSED - 1, 60).reason == "stale"


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
