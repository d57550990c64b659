"""CandleColumns, the warmup's way from an exchange's rows to members: the same members, byte for
byte, as `Candle.to_member` (which tests/unit/test_js_numbers.py checks against node), the same
refusals as `Candle.problem`, and the same floats as float() of the exchange's decimal texts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livermore.exchanges.base import decimal_columns, parse_decimals
from livermore.models import Candle, CandleColumns, Timeframe
from tests.support.candles import columns_of

T0 = 1_700_000_400_000  # on the 5m grid
NUMBERS = st.one_of(
    st.floats(),  # NaN and infinities too: to_member writes them as `null`, as JSON.stringify does
    st.floats(1e-7, 1e-5),  # memecoin prices: orjson writes an exponent, JavaScript does not
    st.floats(2.0**53, 1e22),  # whole numbers with and without orjson's exponent
    st.integers(-(10**6), 10**6).map(float),  # whole numbers: orjson writes `.0`, JavaScript does not
    st.sampled_from([0.0, -0.0, 50000.0, 0.00000999, 1e16, 1e21, 5e-324]),
)


@given(
    rows=st.lists(st.tuples(st.integers(0, 2**53), NUMBERS, NUMBERS, NUMBERS, NUMBERS, NUMBERS), min_size=1),
    symbol=st.text(max_size=12),  # quotes, backslashes, `%`, control characters, any unicode
    tf=st.sampled_from(list(Timeframe)),
)
def test_members_are_byte_for_byte_those_of_candle_to_member(
    rows: list[tuple[int, float, float, float, float, float]], symbol: str, tf: Timeframe
) -> None:
    candles = [Candle(*row, symbol, tf) for row in rows]
    assert columns_of(candles).members() == [c.to_member() for c in candles]


def test_members_of_a_page_with_every_awkward_number() -> None:
    """The cases the page-wide fix-ups exist for, side by side in one page (and none of them
    mistaken for another: -0 beside -10, 1e-7 beside 0.1, a whole number beside 10.05)."""
    awkward = [50000.0, -0.0, -10.0, 10.05, 0.00000999, 1e-7, 0.1, 1e16, 1e21, 123456789012345680000.0, 0.0]
    candles = [Candle(T0 + i, x, -x, x / 3, 2.0, x * 7, "1000PEPE-USDT", Timeframe.M1) for i, x in enumerate(awkward)]
    assert columns_of(candles).members() == [c.to_member() for c in candles]
    assert columns_of(candles).members()[1].startswith(b'{"timestamp":1700000400001,"open":0,"high":0,')


def test_an_empty_answer_has_no_members() -> None:
    assert CandleColumns("BTC-USD", Timeframe.M5, [], [], [], [], [], []).members() == []


candle_fields = st.tuples(
    st.integers(0, 10**6).map(lambda i: T0 + i * 60_000),  # on the 1m grid, on the 5m one one time in five
    *(st.one_of(st.floats(), st.sampled_from([0.0, 1.0, 2.0, 3.0])) for _ in range(5)),
)


@given(rows=st.lists(candle_fields, min_size=1, max_size=20))
def test_unfit_names_the_first_candle_candle_problem_refuses(
    rows: list[tuple[int, float, float, float, float, float]],
) -> None:
    candles = [Candle(*row, "BTC-USD", Timeframe.M5) for row in rows]
    refused = [(c.timestamp, p) for c in candles if (p := c.problem()) is not None]
    assert columns_of(candles).unfit() == (refused[0] if refused else None)


def test_a_page_of_fit_candles_with_one_unfit_is_refused_for_it() -> None:
    candles = [Candle(T0 + i * 300_000, 10.0, 11.0, 9.0, 10.5, 1.0, "BTC-USD", Timeframe.M5) for i in range(1000)]
    candles[700] = Candle(T0 + 700 * 300_000, 10.0, 11.0, 9.0, 0.0, 1.0, "BTC-USD", Timeframe.M5)
    assert columns_of(candles).unfit() == (T0 + 700 * 300_000, "close is 0")
    assert columns_of(candles[:700]).unfit() is None


def test_candles_gives_back_the_candles() -> None:
    candles = [Candle(T0 + i * 300_000, 10.0 + i, 11.0 + i, 9.0, 10.5, 0.0, "ETH-USD", Timeframe.M5) for i in range(3)]
    assert columns_of(candles).candles() == candles
    assert len(columns_of(candles)) == 3


decimal_texts = st.one_of(
    st.decimals(min_value=0, max_value=10**22, places=8, allow_nan=False).map(str),  # "70735.44000000", "1E+5"
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(repr),  # "9.99e-06", "1e+16"
    st.integers(0, 10**30).map(str),  # more digits than a double holds
)


@given(texts=st.lists(decimal_texts))
def test_parse_decimals_reads_what_float_reads(texts: list[str]) -> None:
    parsed = parse_decimals(texts)
    assert parsed == [float(x) for x in texts]
    assert all(type(x) is float for x in parsed)


@pytest.mark.parametrize(
    "odd",
    [["1.5", "NaN"], ["1.5", "inf"], ["1,2", "3"], ["1.5", ""], ["0x10"], ["1.5", " 2 "], ["1_000"], [1.5, "2"]],
    ids=["nan", "inf", "comma", "empty", "hex", "spaces", "underscore", "a number"],
)
def test_parse_decimals_takes_floats_way_with_any_other_text(odd: list[str]) -> None:
    """What JSON would not read as one float each is read by float(), which accepts or refuses it."""
    try:
        expected = [float(x) for x in odd]
    except ValueError:
        with pytest.raises(ValueError):
            parse_decimals(odd)
        return
    got = parse_decimals(odd)
    assert [repr(x) for x in got] == [repr(x) for x in expected]  # NaN == NaN fails; its repr does not


def test_decimal_columns_split_each_candles_five_numbers() -> None:
    got = decimal_columns("BTCUSDT", Timeframe.M1, [0, 60_000], ["1.5", "2.5", "1", "2", "7", "3", "4", "2", "3", "0"])
    assert got == CandleColumns(
        "BTCUSDT", Timeframe.M1, [0, 60_000], [1.5, 3.0], [2.5, 4.0], [1.0, 2.0], [2.0, 3.0], [7.0, 0.0]
    )
