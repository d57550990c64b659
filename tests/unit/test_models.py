"""Candles and timeframes: the original's member format, byte for byte, and clear parse errors."""

from __future__ import annotations

import orjson
import pytest

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


def test_timeframe_parse_errors() -> None:
    assert Timeframe.parse_list("5m,1d 1h") == [Timeframe.D1, Timeframe.H1, Timeframe.M5]
    with pytest.raises(ValueError, match="unknown timeframe '7m'"):
        Timeframe.parse("7m")
