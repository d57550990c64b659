"""Candles and timeframes: the original's member format, byte for byte, and clear parse errors."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from livermore.models import Candle, Timeframe


def test_member_format_matches_the_original() -> None:
    c = Candle(1700000000000, 50000.0, 50010.5, 49990.0, 50001.25, 12.0, "BTC-USD", Timeframe.M5)
    assert c.to_member() == (
        b'{"timestamp":1700000000000,"open":50000,"high":50010.5,"low":49990,'
        b'"close":50001.25,"volume":12,"symbol":"BTC-USD","timeframe":"5m"}'
    )
    synthetic = c.synthetic_next(c.timestamp + 300_000)
    assert list(orjson.loads(synthetic.to_member())) == [
        "timestamp",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "symbol",
        "timeframe",
        "isSynthetic",
    ]
    assert Candle.from_member(synthetic.to_member()) == synthetic


def test_member_numbers_are_written_as_javascript_writes_them() -> None:
    """orjson alone writes 9.99e-6 and 1e16; JSON.stringify 0.00000999 and 10000000000000000 (node check:
    tests/unit/test_js_numbers.py)."""
    c = Candle(1700000000000, 0.00000999, 1e16, 0.00001234, float(2**53 + 2), 0.0, "PEPE-USD", Timeframe.M1)
    assert c.to_member() == (
        b'{"timestamp":1700000000000,"open":0.00000999,"high":10000000000000000,"low":0.00001234,'
        b'"close":9007199254740994,"volume":0,"symbol":"PEPE-USD","timeframe":"1m"}'
    )


finite = st.floats(allow_nan=False, allow_infinity=False)


@given(
    t=st.integers(0, 2**53),
    numbers=st.tuples(finite, finite, finite, finite, finite),
    symbol=st.text(min_size=1, max_size=12),
    tf=st.sampled_from(list(Timeframe)),
    synthetic=st.booleans(),
)
def test_member_round_trips(
    t: int, numbers: tuple[float, float, float, float, float], symbol: str, tf: Timeframe, synthetic: bool
) -> None:
    c = Candle(t, *numbers, symbol, tf, synthetic)
    assert Candle.from_member(c.to_member()) == c
    assert Candle.from_member(c.to_member().decode()) == c


def test_timeframe_parse_errors() -> None:
    assert Timeframe.parse_list("5m,1d 1h") == [Timeframe.D1, Timeframe.H1, Timeframe.M5]
    with pytest.raises(ValueError, match="unknown timeframe '7m'"):
        Timeframe.parse("7m")
