"""coverage: what one answer confirms. Coinbase omits quiet intervals: each interval it answered for
without a candle is empty, up to the last one closed when asked, and no history start is claimed (an
illiquid first interval looks like a listing). Binance returns zero-volume candles for them: only
what it returned is confirmed, and a first candle after the start is where a young pair begins."""

from __future__ import annotations

from livermore.cache import Coverage
from livermore.models import Timeframe
from livermore.warmup.fetch import coverage

TF = Timeframe.M5
START = 1_700_000_100_000 - 1_700_000_100_000 % TF.ms
ASKED = START + 10 * TF.ms + 42_000  # 42 s into interval 10: intervals 0..9 had closed


def times(*intervals: int) -> tuple[int, ...]:
    return tuple(START + i * TF.ms for i in intervals)


def test_coinbase_confirms_every_closed_interval_it_returned_nothing_for() -> None:
    got = coverage(times(2, 3, 5, 6), "X", TF, START, ASKED, omits_quiet=True)
    assert got == Coverage("X", TF, START, START + 9 * TF.ms, ASKED, times(0, 1, 4, 7, 8, 9))


def test_coinbase_open_interval_is_not_confirmed_but_its_candle_is_accounted_for() -> None:
    got = coverage(times(0, 10), "X", TF, START, ASKED, omits_quiet=True)
    assert (got.answered_to, got.empty, got.history_start) == (START + 10 * TF.ms, times(*range(1, 10)), None)
    silent = coverage([], "X", TF, START, ASKED, omits_quiet=True)
    assert (silent.answered_to, silent.empty) == (START + 9 * TF.ms, times(*range(10)))


def test_binance_confirms_only_what_it_returned() -> None:
    got = coverage(times(0, 1, 3), "X", TF, START, ASKED, omits_quiet=False)
    assert got == Coverage("X", TF, START, START + 3 * TF.ms, ASKED)  # 2 is an outage, 4..9 not confirmed
    assert coverage([], "X", TF, START, ASKED, omits_quiet=False).answered_to is None


def test_only_binance_says_where_a_young_pair_begins() -> None:
    assert coverage(times(4, 5), "X", TF, START, ASKED, omits_quiet=False).history_start == START + 4 * TF.ms
    assert coverage(times(4, 5), "X", TF, START, ASKED, omits_quiet=True).history_start is None
