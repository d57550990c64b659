"""Candle members are byte for byte what the original's JSON.stringify writes, numbers included: checked
against node itself (one node process per test, every value in one batch). No node, no pass: these
tests fail rather than skip, since the byte compatibility is what they exist to prove."""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess
from itertools import cycle
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livermore.models import Candle, Timeframe, js_number

EDGES = [
    9.99e-06,
    1e-6,
    1e-7,
    5e-7,
    1e-5,
    1.234e-5,
    0.00001234,
    9.999999999999999e-06,
    1e-4,
    float(2**53),
    float(2**53 + 2),
    9999999999999998.0,
    1e16,
    1e20,
    1e21,
    123456789012345680000.0,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    -0.0,
    0.0,
    0.1,
    50000.0,
    1.2345,
    67234.5,
    123.456,
]

# Node reads the objects (and bare numbers) as JSON, which is exact for the shortest-repr digits Python's
# json module writes, and answers with JSON.stringify of each object and String() of each number.
NODE_SCRIPT = """
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify({
  members: input.objects.map((o) => JSON.stringify(o)),
  numbers: input.numbers.map((x) => String(x)),
}));
"""


def node_says(objects: list[dict[str, Any]], numbers: list[float]) -> tuple[list[str], list[str]]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (Node.js 20) is not on PATH: it is required to check candle members against JSON.stringify")
    payload = json.dumps({"objects": objects, "numbers": numbers}, allow_nan=False)
    done = subprocess.run([node, "-e", NODE_SCRIPT], input=payload, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    return answer["members"], answer["numbers"]


def as_object(c: Candle) -> dict[str, Any]:
    """The object the original would stringify, built from the fields (not from to_member)."""
    o: dict[str, Any] = {
        "timestamp": c.timestamp,
        "open": c.open,
        "high": c.high,
        "low": c.low,
        "close": c.close,
        "volume": c.volume,
        "symbol": c.symbol,
        "timeframe": c.timeframe.value,
    }
    if c.is_synthetic:
        o["isSynthetic"] = True
    return o


def candles_of(values: list[float]) -> list[Candle]:
    """Each value in every field position (open..volume) of some candle; every other one synthetic."""
    tfs = cycle(Timeframe)
    out = []
    for shift in range(5):
        rolled = values[shift:] + values[:shift]
        for i in range(0, len(rolled), 5):
            o, h, lo, c, v = (rolled[i : i + 5] + rolled[:5])[:5]
            tf = next(tfs)
            out.append(Candle(1_700_000_000_000 // tf.ms * tf.ms, o, h, lo, c, v, "BTC-USD", tf, i % 2 == 1))
    return out


def assert_like_node(values: list[float]) -> None:
    candles = candles_of(values)
    members, numbers = node_says([as_object(c) for c in candles], values)
    for c, expected in zip(candles, members, strict=True):
        assert c.to_member().decode() == expected, c
    for x, expected in zip(values, numbers, strict=True):
        assert js_number(x) == expected, repr(x)


def test_edge_values_like_node() -> None:
    assert_like_node(EDGES + [-x for x in EDGES])


def test_examples_from_the_brief() -> None:
    """The differences that started this (pinned without node, so they read as documentation)."""
    assert js_number(9.99e-06) == "0.00000999"
    assert js_number(1e16) == "10000000000000000"
    assert js_number(123456789012345680000.0) == "123456789012345680000"
    assert js_number(1e21) == "1e+21"
    assert js_number(1e-7) == "1e-7"
    assert js_number(1.5e-7) == "1.5e-7"
    assert js_number(-0.0) == "0"
    assert js_number(float(2**53 + 2)) == "9007199254740994"
    assert js_number(float("nan")) == "null"


def test_random_bit_patterns_like_node() -> None:
    """Uniform over the 64-bit patterns: every exponent, both signs, subnormals (seeded, so repeatable)."""
    rnd = random.Random(20260225)
    values: list[float] = []
    while len(values) < 4000:
        x = struct.unpack("<d", rnd.randbytes(8))[0]
        if x == x and abs(x) != float("inf"):
            values.append(x)
    # and prices/volumes as exchanges send them: few decimals, every scale from 1e-8 to 1e22
    for _ in range(4000):
        values.append(round(10 ** rnd.uniform(-8, 22), rnd.randint(0, 12)))
    assert_like_node(values)


RANGES = {
    "any finite": st.floats(allow_nan=False, allow_infinity=False),
    "1e-7 to 1e-5": st.floats(1e-7, 1e-5),
    "2**53 to 1e22": st.floats(2.0**53, 1e22),
    "negative": st.floats(max_value=-0.0, allow_nan=False, allow_infinity=False),
    "subnormal": st.floats(-2.2250738585072014e-308, 2.2250738585072014e-308),
}


# Big batches rather than many small examples: node starts once per example.
@pytest.mark.parametrize("name", list(RANGES))
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.large_base_example])
@given(data=st.data())
def test_hypothesis_doubles_like_node(name: str, data: st.DataObject) -> None:
    assert_like_node(data.draw(st.lists(RANGES[name], min_size=200, max_size=250), label=name))


def test_symbols_and_flags_like_node() -> None:
    """The rest of the member: strings JSON.stringify escapes, and isSynthetic only when true."""
    symbols = ["BTC-USD", "1000PEPE-USDT", 'a"b\\c', "é€😀", "tab\there", "\x00\x01\x1f\x7f", "line\nbreak\r\u2028"]
    candles = [
        Candle(1_700_000_100_000, 1.5, 2.0, 1.0, 1.25, 0.0, s, tf, synthetic)
        for s in symbols
        for tf in (Timeframe.M5, Timeframe.M1)
        for synthetic in (False, True)
    ]
    members, _ = node_says([as_object(c) for c in candles], [])
    assert [c.to_member().decode() for c in candles] == members
