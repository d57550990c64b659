"""fill_no_trade: real candles kept as they are, holes up to the last closed interval filled with the
previous close, nothing invented before the first known candle nor after the last closed interval."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from livermore.models import Candle, Timeframe
from livermore.warmup.fetch import fill_no_trade


def candle(tf: Timeframe, t: int, close: float = 10.0, volume: float = 1.0) -> Candle:
    return Candle(t, close - 1, close + 2, close - 2, close, volume, "BTC-USD", tf)


@dataclass(frozen=True)
class Case:
    tf: Timeframe
    start: int
    candles: list[Candle]
    prev: Candle | None
    last_closed: int

    @property
    def prev_adjacent(self) -> bool:
        return self.prev is not None and self.prev.timestamp == self.start - self.tf.ms


@st.composite
def cases(draw: st.DrawFn) -> Case:
    tf = draw(st.sampled_from(list(Timeframe)))
    start = draw(st.integers(1, 10**6)) * tf.ms
    indices = sorted(draw(st.sets(st.integers(0, 30), min_size=1, max_size=20)))
    closes = st.floats(1, 1e6, allow_nan=False)
    real = [candle(tf, start + i * tf.ms, draw(closes), draw(st.floats(0.5, 1e6))) for i in indices]
    back = draw(st.none() | st.integers(1, 4))  # 1: the interval right before start
    prev = None if back is None else candle(tf, start - back * tf.ms, draw(closes))
    last_closed = real[-1].timestamp + draw(st.integers(-3, 5)) * tf.ms  # before, at or after the newest
    return Case(tf, start, real, prev, last_closed)


@settings(max_examples=200, deadline=None)
@given(cases())
def test_properties(case: Case) -> None:
    tf, real = case.tf, case.candles
    out = fill_no_trade(real, case.prev, case.start, case.last_closed)
    times = [c.timestamp for c in out]
    by_time = {c.timestamp: c for c in out}

    # strictly ascending, on the grid; a gap only opens after the last closed interval
    assert all(b > a for a, b in pairwise(times))
    assert all((t - case.start) % tf.ms == 0 for t in times)
    assert all(b - a == tf.ms or a >= case.last_closed for a, b in pairwise(times))
    if real[-1].timestamp <= case.last_closed + tf.ms:  # the newest is at most the open interval
        assert times == list(range(times[0], times[-1] + 1, tf.ms))

    # every real candle kept, unchanged
    assert all(by_time[c.timestamp] is c for c in real)

    # where it begins: at start only when prev is the interval right before it
    if case.prev_adjacent and case.start <= case.last_closed:
        assert times[0] == case.start
    else:
        assert out[0] is real[0]

    # synthetics: only up to the last closed interval, each the previous candle's close, volume 0
    real_times = {c.timestamp for c in real}
    for i, c in enumerate(out):
        if c.timestamp in real_times:
            continue
        before = out[i - 1] if i else case.prev
        assert before is not None and before.timestamp == c.timestamp - tf.ms
        assert case.start <= c.timestamp <= case.last_closed
        assert c.is_synthetic and c.volume == 0
        assert (c.open, c.high, c.low, c.close) == (before.close,) * 4
        assert (c.symbol, c.timeframe) == (before.symbol, before.timeframe)

    # complete: nothing is missing from the first output candle up to the last closed interval
    assert set(range(times[0], case.last_closed + 1, tf.ms)) <= set(times)


def test_nothing_returned_means_nothing_written() -> None:
    tf = Timeframe.M1
    assert fill_no_trade([], None, 10 * tf.ms, 20 * tf.ms) == []
    assert fill_no_trade([], candle(tf, 9 * tf.ms), 10 * tf.ms, 20 * tf.ms) == []


def test_coinbase_hole_and_tail_filled_from_previous_close() -> None:
    tf = Timeframe.M5
    a, b = candle(tf, 0, close=1.5), candle(tf, 3 * tf.ms, close=7.0)
    out = fill_no_trade([a, b], None, 0, 4 * tf.ms)
    assert out == [
        a,
        Candle(tf.ms, 1.5, 1.5, 1.5, 1.5, 0.0, "BTC-USD", tf, is_synthetic=True),
        Candle(2 * tf.ms, 1.5, 1.5, 1.5, 1.5, 0.0, "BTC-USD", tf, is_synthetic=True),
        b,
        Candle(4 * tf.ms, 7.0, 7.0, 7.0, 7.0, 0.0, "BTC-USD", tf, is_synthetic=True),
    ]


def test_prev_right_before_start_seeds_the_head_other_prev_does_not() -> None:
    tf = Timeframe.H1
    start = 100 * tf.ms
    real = [candle(tf, start + 2 * tf.ms, close=5.0)]
    seeded = fill_no_trade(real, candle(tf, start - tf.ms, close=3.0), start, start + 2 * tf.ms)
    assert [(c.timestamp, c.close, c.is_synthetic) for c in seeded] == [
        (start, 3.0, True),
        (start + tf.ms, 3.0, True),
        (start + 2 * tf.ms, 5.0, False),
    ]
    assert fill_no_trade(real, candle(tf, start - 2 * tf.ms), start, start + 2 * tf.ms) == real
