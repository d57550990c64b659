"""Types shared by every layer: timeframes, candles (in the original's wire format), the clock, and
the base of every camelCase JSON document we write."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import repeat
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Timeframe(str, Enum):  # noqa: UP042  StrEnum would change str()/format() of members (log lines)
    """A candle interval; the value is the name used in Redis keys and on Binance."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H2 = "2h"
    H4 = "4h"
    H6 = "6h"
    D1 = "1d"

    @property
    def ms(self) -> int:
        """Length of one interval in milliseconds."""
        return _TIMEFRAME_MS[self._value_]  # _value_: what .value reads, without the property's cost

    def floor(self, t_ms: int) -> int:
        """Open time of the interval that contains `t_ms`."""
        return t_ms - t_ms % self.ms

    @classmethod
    def parse(cls, value: str) -> Timeframe:
        """Parse a name like '5m', with an error that lists the supported ones."""
        try:
            return cls(value.strip())
        except ValueError:
            supported = " ".join(tf.value for tf in cls)
            raise ValueError(f"unknown timeframe {value!r} (supported: {supported})") from None

    @classmethod
    def parse_list(cls, value: str) -> list[Timeframe]:
        """Parse 'a,b,c' (or a space-separated list) into timeframes, largest first."""
        names = [v for v in value.replace(",", " ").split() if v]
        if not names:
            raise ValueError("no timeframes given")
        return sorted({cls.parse(v) for v in names}, key=lambda tf: -tf.ms)


_MINUTE = 60_000
_TIMEFRAME_MS = {
    "1m": _MINUTE,
    "5m": 5 * _MINUTE,
    "15m": 15 * _MINUTE,
    "30m": 30 * _MINUTE,
    "1h": 60 * _MINUTE,
    "2h": 120 * _MINUTE,
    "4h": 240 * _MINUTE,
    "6h": 360 * _MINUTE,
    "1d": 1440 * _MINUTE,
}

# The seeds' SCAN_TIMEFRAME_ORDER: warm the largest timeframe first.
SCAN_TIMEFRAME_ORDER: tuple[Timeframe, ...] = (
    Timeframe.D1,
    Timeframe.H4,
    Timeframe.H1,
    Timeframe.M15,
    Timeframe.M5,
    Timeframe.M1,
)


def js_number(x: float) -> str:
    """`x` as JavaScript writes it (Number::toString, which JSON.stringify uses; NaN and ±Infinity as `null`).

    Same shortest round-trip digits as Python's repr, laid out by the ECMAScript rules: plain decimals
    for 1e-6 <= |x| < 1e21 (`0.00000999`, `10000000000000000`, `50000`), exponent form outside
    (`1e-7`, `1.5e+21`), and -0 as `0`.
    """
    x = float(x)
    if x == 0:
        return "0"
    if not math.isfinite(x):
        return "null"
    r = repr(x)
    mantissa, _, exponent = r.partition("e")
    if not exponent:  # repr is positional for 1e-4 <= |x| < 1e16, as JS is, apart from a trailing ".0"
        return r[:-2] if r.endswith(".0") else r
    sign = ""
    if mantissa[0] == "-":
        sign, mantissa = "-", mantissa[1:]
    digits = mantissa.replace(".", "")  # repr's mantissa: no leading or trailing zeros
    n = int(exponent) + 1  # the value is 0.<digits> x 10**n
    if -6 < n <= 0:
        return f"{sign}0.{'0' * -n}{digits}"
    if 0 < n <= 21:  # here n >= 17 >= len(digits): a whole number
        return f"{sign}{digits}{'0' * (n - len(digits))}"
    return f"{sign}{mantissa}e{'+' if n > 0 else '-'}{abs(n - 1)}"


_INF = math.inf


def _show(x: float) -> str:
    """A number in a problem's text: as the member would have it, or nan / inf / -inf."""
    return js_number(x) if math.isfinite(x) else repr(float(x))


def _json_number(x: float) -> float | int | orjson.Fragment:
    """`x` for orjson.dumps so that it writes what JSON.stringify writes.

    orjson writes JavaScript's digits and layout from 1e-5 to 1e16 except for whole numbers (`50000.0`),
    which become ints here. Below 1e-5 and from 1e16 it may use an exponent where JS does not
    (`9.99e-6` for `0.00000999`, `1e16`), so those values are written as JS text: prices of 1e-6 to
    1e-5 are common (memecoins), so they take a short cut from orjson's own digits; the rest,
    never seen in practice, take js_number. tests/unit/test_js_numbers.py checks all of it against node.
    """
    if 1e-5 <= x < 1e16 or -1e16 < x <= -1e-5:
        try:
            return int(x) if x.is_integer() else x
        except AttributeError:  # an int where a float belongs (int.is_integer is Python 3.12+)
            return int(x)
    if x == 0:
        return 0
    if 1e-6 <= x < 1e-5:  # orjson writes "9.99e-6": its shortest digits with the exponent -6
        return orjson.Fragment(b"0.00000" + orjson.dumps(x)[:-3].replace(b".", b""))
    return orjson.Fragment(js_number(x))


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV candle; `timestamp` is the open time in Unix ms (the sorted-set score)."""

    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    symbol: str
    timeframe: Timeframe
    is_synthetic: bool = False

    def to_member(self) -> bytes:
        """The sorted-set member, byte for byte what the original writes: JSON.stringify of the same object
        (this key order, numbers as JavaScript writes them: `50000`, `0.00000999`, `10000000000000000`)."""
        doc: dict[str, Any] = {
            "timestamp": self.timestamp,
            "open": _json_number(self.open),
            "high": _json_number(self.high),
            "low": _json_number(self.low),
            "close": _json_number(self.close),
            "volume": _json_number(self.volume),
            "symbol": self.symbol,
            "timeframe": self.timeframe,  # orjson writes an Enum's value, faster than reading .value
        }
        if self.is_synthetic:
            doc["isSynthetic"] = True
        return orjson.dumps(doc)

    @classmethod
    def from_member(cls, member: bytes | str) -> Candle:
        """Parse a sorted-set member written by us or by the original."""
        d = orjson.loads(member)
        return cls(
            timestamp=int(d["timestamp"]),
            open=float(d["open"]),
            high=float(d["high"]),
            low=float(d["low"]),
            close=float(d["close"]),
            volume=float(d["volume"]),
            symbol=d["symbol"],
            timeframe=Timeframe(d["timeframe"]),
            is_synthetic=bool(d.get("isSynthetic", False)),
        )

    def problem(self) -> str | None:
        """Why this candle must not be written, or None when it may.

        The original's reader validates every member of a key and throws for the whole key when one
        member has a non-positive price, so one bad candle would hide all the pair's candles from its
        indicators; an inconsistent one (high below low, open time off the grid) is wrong data all the same.
        Returns the first problem found: prices not finite or not positive, high below low, high below
        open/close, low above open/close, volume negative or not finite (0 is fine), open time not on the
        timeframe's grid (every timeframe is a whole number of minutes, hours or days in UTC).
        """
        o, h, lo, c, v = self.open, self.high, self.low, self.close, self.volume
        if _fits(self.timestamp, o, h, lo, c, v, self.timeframe.ms):
            return None
        for name, price in (("open", o), ("high", h), ("low", lo), ("close", c)):
            if not (0 < price < _INF):
                return f"{name} is {_show(price)}"
        if h < lo:
            return f"high {_show(h)} is below low {_show(lo)}"
        for name, price in (("open", o), ("close", c)):
            if h < price:
                return f"high {_show(h)} is below {name} {_show(price)}"
        for name, price in (("open", o), ("close", c)):
            if lo > price:
                return f"low {_show(lo)} is above {name} {_show(price)}"
        if not (0 <= v < _INF):
            return f"volume is {_show(v)}"
        return f"open time {self.timestamp} is not on the {self.timeframe.value} grid"

    def synthetic_next(self, timestamp: int) -> Candle:
        """A no-trade candle at `timestamp`: this candle's close as OHLC, volume 0 (the original's rule)."""
        c = self.close
        return Candle(timestamp, c, c, c, c, 0.0, self.symbol, self.timeframe, is_synthetic=True)


def _fits(t: int, o: float, h: float, lo: float, c: float, v: float, ms: int) -> bool:
    """Whether a candle passes every rule of `Candle.problem`, in one expression (NaN fails every
    comparison): the common case, checked for whole columns at once by `CandleColumns.unfit`."""
    return 0 < lo <= o <= h < _INF and lo <= c <= h and 0 <= v < _INF and t % ms == 0


# orjson writes a float's shortest digits as JavaScript does in most of the range; these fix the rest
# in a page's text at once (a number there ends at `,` or `]`): whole numbers lose orjson's `.0`
# (`50000.0` -> `50000`), then -0 is `0` (a `-` starts a number or an exponent, and orjson writes no
# exponent 0), and an exponent form (`9.99e-6`, `1e16`) takes js_number's layout.
_WHOLE = re.compile(rb"\.0(?=[,\]])")
_NEGATIVE_ZERO = re.compile(rb"-0(?=[,\]])")
_EXPONENT = re.compile(rb"[-.0-9]+e[-+]?[0-9]+")


def _js_exponent(number: re.Match[bytes]) -> bytes:
    return js_number(float(number[0])).encode()


@dataclass(frozen=True, slots=True)
class CandleColumns:
    """One pair's candles column by column, ascending by open time, one per open time: an
    exchange's answer as the adapters parse it, checked and written without a Candle per candle.

    Building, checking and serialising 1000 Candle objects one by one took more CPU than the rest
    of a page's way from the exchange to Redis; columns are checked in one pass (`unfit`) and
    become members (`members`, byte for byte `Candle.to_member`) through one orjson call per page.
    `candles()` gives the Candle objects where they are wanted.
    """

    symbol: str
    timeframe: Timeframe
    timestamps: list[int]
    opens: list[float]
    highs: list[float]
    lows: list[float]
    closes: list[float]
    volumes: list[float]

    def __len__(self) -> int:
        return len(self.timestamps)

    def _columns(self) -> tuple[Sequence[float], ...]:
        return self.timestamps, self.opens, self.highs, self.lows, self.closes, self.volumes

    def candles(self) -> list[Candle]:
        s, tf = self.symbol, self.timeframe
        columns = zip(self.timestamps, self.opens, self.highs, self.lows, self.closes, self.volumes, strict=True)
        return [Candle(t, o, h, lo, c, v, s, tf) for t, o, h, lo, c, v in columns]

    def unfit(self) -> tuple[int, str] | None:
        """The first candle that must not be written, as (open time, `Candle.problem`), or None."""
        if all(map(_fits, *self._columns(), repeat(self.timeframe.ms))):
            return None
        return next((c.timestamp, p) for c in self.candles() if (p := c.problem()) is not None)

    def members(self) -> list[bytes]:
        """Each candle's sorted-set member, byte for byte `Candle.to_member` (not synthetic).

        All numbers of the page are written by one orjson call and fixed up to JavaScript's layout
        in its text; each member is then the page's template filled with its six numbers."""
        if not self.timestamps:
            return []
        flat = [0.0] * (6 * len(self.timestamps))
        for i, column in enumerate(self._columns()):
            flat[i::6] = column
        text = _WHOLE.sub(b"", orjson.dumps(flat))
        text = _NEGATIVE_ZERO.sub(b"0", text)
        if b"e" in text:
            text = _EXPONENT.sub(_js_exponent, text)
        numbers = iter(text[1:-1].split(b","))
        template = (
            b'{"timestamp":%b,"open":%b,"high":%b,"low":%b,"close":%b,"volume":%b,"symbol":'
            + orjson.dumps(self.symbol).replace(b"%", b"%%")
            + b',"timeframe":'
            + orjson.dumps(self.timeframe)
            + b"}"
        )
        return [template % six for six in zip(numbers, numbers, numbers, numbers, numbers, numbers, strict=True)]


def now_ms() -> int:
    """Wall-clock Unix ms; every class that reads the time takes a clock like this, so tests can move it."""
    return time.time_ns() // 1_000_000


class CamelModel(BaseModel):
    """A JSON document in the original's camelCase (its admin UI and services read ours)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()

    def to_dict(self) -> dict[str, Any]:
        """The same document as `to_json`, as JSON-ready Python values."""
        return self.model_dump(by_alias=True, mode="json")
