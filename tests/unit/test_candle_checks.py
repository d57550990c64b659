"""Candle.problem: a candle the original's reader would choke on (one non-positive price makes it throw
for the whole key), or that is plainly inconsistent, is named with a short reason before it is written."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livermore.models import Candle, Timeframe

T0 = 1_700_000_400_000  # on the 5m grid (and the 1m one), not on the 15m one
GOOD = Candle(T0, 10.0, 12.5, 9.0, 11.0, 3.25, "BTC-USD", Timeframe.M5)


def with_(**changes: object) -> Candle:
    return dataclasses.replace(GOOD, **changes)  # type: ignore[arg-type]


def test_a_valid_candle_has_no_problem() -> None:
    assert GOOD.problem() is None
    assert with_(volume=0.0).problem() is None  # no trades is not a problem
    assert with_(open=9.0, high=9.0, low=9.0, close=9.0).problem() is None  # a flat candle
    assert with_(open=0.00000999, high=0.00001, low=0.000009, close=0.0000095).problem() is None
    assert GOOD.synthetic_next(T0 + 300_000).problem() is None
    assert Candle(T0 - T0 % 86_400_000, 1.0, 1.0, 1.0, 1.0, 0.0, "X-USD", Timeframe.D1).problem() is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        # prices: finite and positive (checked in the order open, high, low, close)
        ({"close": 0.0}, "close is 0"),
        ({"close": -0.0}, "close is 0"),
        ({"open": math.nan}, "open is nan"),
        ({"high": math.inf}, "high is inf"),
        ({"low": -math.inf}, "low is -inf"),
        ({"low": -1.5}, "low is -1.5"),
        ({"open": 0.0, "close": 0.0}, "open is 0"),
        ({"open": 1e-7, "low": 1e-7}, None),  # tiny but positive is fine
        # high and low against each other and against open/close
        ({"high": 8.0}, "high 8 is below low 9"),
        ({"high": 10.5}, "high 10.5 is below close 11"),
        ({"high": 10.5, "open": 11.0, "close": 10.0}, "high 10.5 is below open 11"),
        ({"low": 10.5}, "low 10.5 is above open 10"),
        ({"low": 10.5, "open": 11.0, "close": 10.0}, "low 10.5 is above close 10"),
        (
            {"low": 0.00002, "open": 0.00000999, "close": 0.00003, "high": 0.00004},
            "low 0.00002 is above open 0.00000999",
        ),
        # volume: finite and not negative
        ({"volume": -0.5}, "volume is -0.5"),
        ({"volume": math.nan}, "volume is nan"),
        ({"volume": math.inf}, "volume is inf"),
        # the open time on the timeframe's grid
        ({"timestamp": T0 + 1}, "open time 1700000400001 is not on the 5m grid"),
        ({"timeframe": Timeframe.M15}, "open time 1700000400000 is not on the 15m grid"),
        ({"timestamp": T0 + 60_000}, "open time 1700000460000 is not on the 5m grid"),
        ({"timestamp": T0 + 60_000, "timeframe": Timeframe.M1}, None),
    ],
)
def test_each_rule_and_its_reason(changes: dict[str, object], reason: str | None) -> None:
    assert with_(**changes).problem() == reason


def test_the_first_problem_is_reported() -> None:
    assert with_(open=math.nan, volume=-1.0, timestamp=T0 + 1).problem() == "open is nan"
    assert with_(high=8.0, volume=-1.0).problem() == "high 8 is below low 9"
    assert with_(volume=-1.0, timestamp=T0 + 1).problem() == "volume is -1"


positive = st.floats(min_value=5e-324, max_value=1.7976931348623157e308, allow_nan=False, allow_infinity=False)


@given(
    prices=st.lists(positive, min_size=4, max_size=4),
    volume=st.floats(min_value=0.0, allow_nan=False, allow_infinity=False),
    tf=st.sampled_from(list(Timeframe)),
    interval=st.integers(0, 4_000_000_000_000 // 60_000),
)
def test_consistent_candles_on_the_grid_have_no_problem(
    prices: list[float], volume: float, tf: Timeframe, interval: int
) -> None:
    o, a, b, c = prices
    candle = Candle(interval * tf.ms, o, max(o, a, b, c), min(o, a, b, c), c, volume, "BTC-USD", tf)
    assert candle.problem() is None
