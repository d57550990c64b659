"""The simulator's deterministic market: symbol names and the ground-truth price path and candles.

Every value is a pure function of (seed, symbol, timeframe, time), so a closed candle is identical on
every request and every run and costs O(1) to compute, whatever range is asked for: the log price is a
sum of hashed value-noise octaves (1 minute to ~45 days), which looks like a random walk without state.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from livermore.models import Candle, Timeframe

_MASK = (1 << 64) - 1
_OCTAVES = 17  # grid spacings 1 min .. 2^16 min (~45 days)
_STEP_VOL = 0.0008  # log-price amplitude of the 1-minute octave
_NO_TRADE_SHARE = 0.3
_MINUTE_MS = 60_000
_DAY_MS = 86_400_000

# Real-looking tickers first, with plausible prices and a decreasing 24h quote volume.
_KNOWN: tuple[tuple[str, float], ...] = (
    ("BTC", 65000.0), ("ETH", 3200.0), ("SOL", 150.0), ("XRP", 0.55), ("BNB", 580.0),
    ("DOGE", 0.15), ("ADA", 0.45), ("TRX", 0.12), ("AVAX", 35.0), ("LINK", 15.0),
    ("DOT", 7.0), ("LTC", 80.0), ("BCH", 450.0), ("UNI", 9.0), ("ATOM", 8.0),
    ("XLM", 0.11), ("NEAR", 6.0), ("APT", 9.0), ("FIL", 5.0), ("ARB", 1.1),
    ("OP", 2.2), ("ETC", 25.0), ("ICP", 12.0), ("HBAR", 0.08), ("INJ", 25.0),
    ("SUI", 1.2), ("AAVE", 95.0), ("MKR", 2500.0), ("PEPE", 0.00001), ("SHIB", 0.00002),
)  # fmt: skip


def _mix(x: int) -> int:
    """splitmix64 finaliser: a fast, well-spread 64-bit hash step."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _unit(key: int, *parts: int) -> float:
    """A uniform number in [0, 1) determined by `key` and `parts`."""
    h = key
    for p in parts:
        h = _mix(h ^ (p & _MASK))
    return h / 2**64


_OCTAVE_SCALES = tuple((1 / (1 << k), _STEP_VOL * math.sqrt(1 << k)) for k in range(_OCTAVES))


@lru_cache(maxsize=1 << 20)
def _price(key: int, base_price: float, t_ms: int) -> float:
    """Sum of octaves of value noise in log space. Cached: a candle's close is the next one's open."""
    log_p = math.log(base_price)
    x = t_ms / _MINUTE_MS
    for k, (inv, amp) in enumerate(_OCTAVE_SCALES):
        n, frac = divmod(x * inv, 1.0)
        g0 = _gradient(key, k, int(n))
        log_p += amp * (g0 + (_gradient(key, k, int(n) + 1) - g0) * frac)
    return math.exp(log_p)


@lru_cache(maxsize=1 << 18)
def _gradient(key: int, octave: int, n: int) -> float:
    """The noise value at grid point `n` of `octave`, in [-1, 1); neighbouring candles share most of
    them (only the finest octaves move between two candles), so caching makes a price cheap."""
    return _unit(key, octave, n) * 2 - 1


def decimal_str(x: float, places: int) -> str:
    """`x` with exactly `places` decimals and no binary noise (701436952.6 -> '701436952.60000000').

    The shortest repr of the rounded float has at most `places` decimals, so padding it is exact; an
    exponent form (very large or small), inf and nan go through Decimal (8 of these per candle: the
    plain path is what keeps the simulator from being the bottleneck of a benchmark)."""
    text = repr(round(x, places))
    whole, _, fraction = text.partition(".")
    if not places or "e" in text or "n" in text:
        return f"{Decimal(text):.{places}f}"
    return f"{whole}.{fraction:0<{places}}"


def _key(seed: int, text: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}:{text}".encode(), digest_size=8).digest(), "big")


def base_names(n: int, seed: int) -> list[str]:
    """`n` distinct base assets: the known tickers, then generated 3-4 letter ones."""
    names = [name for name, _ in _KNOWN[:n]]
    taken = set(names)
    i = 0
    while len(names) < n:
        h = _mix(_key(seed, "name") ^ i)
        i += 1
        name = "".join(chr(65 + (h >> (5 * k)) % 26) for k in range(3 + h % 2))
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


@dataclass(frozen=True, slots=True)
class Asset:
    """One simulated base asset: its price level, tick and lot precision, and trading volume."""

    base: str
    key: int
    price: float  # the level the walk wanders around
    price_decimals: int
    qty_decimals: int
    daily_quote_volume: float

    def round_price(self, x: float) -> float:
        return round(x, self.price_decimals)

    def round_qty(self, x: float) -> float:
        return round(x, self.qty_decimals)


def make_asset(base: str, rank: int, seed: int) -> Asset:
    key = _key(seed, base)
    known = dict(_KNOWN)
    price = known.get(base) or 10 ** (-2 + 5 * _unit(key, 1))
    magnitude = math.floor(math.log10(price))
    return Asset(
        base=base,
        key=key,
        price=price,
        price_decimals=min(8, max(2, 4 - magnitude)),
        qty_decimals=min(6, max(0, 2 + magnitude)),
        daily_quote_volume=2e9 / (rank + 1) ** 1.2 * (0.8 + 0.4 * _unit(key, 2)),
    )


_TF_INDEX = {tf: i for i, tf in enumerate(Timeframe)}


class Market:
    """Ground truth for a set of assets: prices at any time, candles, empty (no-trade) intervals."""

    def __init__(self, assets: list[Asset], no_trade: set[str], listings: dict[str, int]):
        self._assets = {a.base: a for a in assets}
        self._no_trade = no_trade
        self._listings = listings

    def asset(self, base: str) -> Asset:
        return self._assets[base]

    @property
    def bases(self) -> list[str]:
        return list(self._assets)

    def price(self, base: str, t_ms: int) -> float:
        """The unrounded price at `t_ms`: exp of the octave sum, always positive."""
        a = self._assets[base]
        return _price(a.key, a.price, t_ms)

    def first_open(self, base: str, tf: Timeframe) -> int:
        """Open time of the first candle: the interval that contains the listing (or the epoch)."""
        return tf.floor(self._listings.get(base, 0))

    def is_empty(self, base: str, tf: Timeframe, open_ms: int) -> bool:
        """Deterministic no-trade intervals (~30%) for the configured symbols."""
        if base not in self._no_trade:
            return False
        return _unit(self._assets[base].key, 7, _TF_INDEX[tf], open_ms) < _NO_TRADE_SHARE

    def candle(self, base: str, symbol: str, tf: Timeframe, open_ms: int, now_ms: int) -> Candle:
        """The candle at `open_ms` as of `now_ms`; a no-trade interval has volume 0 and OHLC = last close."""
        a = self._assets[base]
        if self.is_empty(base, tf, open_ms):
            c = self._previous_close(base, tf, open_ms)
            return Candle(open_ms, c, c, c, c, 0.0, symbol, tf)
        end = min(open_ms + tf.ms, now_ms)
        done = (end - open_ms) / tf.ms  # share of the interval elapsed: 1 for a closed candle
        o = self.price(base, open_ms)
        c = self.price(base, end)
        spread = _STEP_VOL * math.sqrt(tf.ms / _MINUTE_MS) * done
        tf_i = _TF_INDEX[tf]
        high = max(o, c) * (1 + spread * _unit(a.key, 3, tf_i, open_ms))
        low = min(o, c) * (1 - 0.5 * spread * _unit(a.key, 4, tf_i, open_ms))
        quote_volume = a.daily_quote_volume * tf.ms / _DAY_MS * (0.2 + 1.6 * _unit(a.key, 5, tf_i, open_ms))
        return Candle(
            open_ms,
            a.round_price(o),
            a.round_price(high),
            a.round_price(low),
            a.round_price(c),
            a.round_qty(quote_volume * done / ((o + c) / 2)),
            symbol,
            tf,
        )

    def _previous_close(self, base: str, tf: Timeframe, open_ms: int) -> float:
        """Close of the last traded candle before `open_ms` (the price at its end), else the listing price."""
        first = self.first_open(base, tf)
        t = open_ms - tf.ms
        while t >= first and self.is_empty(base, tf, t):
            t -= tf.ms
        return self._assets[base].round_price(self.price(base, max(t + tf.ms, first)))

    def trades(self, base: str, tf: Timeframe, candle: Candle) -> int:
        """A plausible trade count for a candle (0 for an empty one)."""
        if candle.volume == 0:
            return 0
        return 1 + int(
            candle.volume * candle.close / 500 * _unit(self._assets[base].key, 6, _TF_INDEX[tf], candle.timestamp)
        )

    def day_stats(self, base: str, now_ms: int) -> DayStats:
        """Rolling 24h statistics for tickers and product lists (volume varies minute to minute)."""
        a = self._assets[base]
        o = self.price(base, now_ms - _DAY_MS)
        last = self.price(base, now_ms)
        swing = _STEP_VOL * math.sqrt(_DAY_MS / _MINUTE_MS)
        quote_volume = a.daily_quote_volume * (0.9 + 0.2 * _unit(a.key, 8, now_ms // _MINUTE_MS))
        return DayStats(
            open=a.round_price(o),
            last=a.round_price(last),
            high=a.round_price(max(o, last) * (1 + swing * _unit(a.key, 9, now_ms // _MINUTE_MS))),
            low=a.round_price(min(o, last) * (1 - 0.5 * swing * _unit(a.key, 10, now_ms // _MINUTE_MS))),
            volume=a.round_qty(quote_volume / ((o + last) / 2)),
            quote_volume=round(quote_volume, 2),
        )


@dataclass(frozen=True, slots=True)
class DayStats:
    open: float
    last: float
    high: float
    low: float
    volume: float
    quote_volume: float
