"""Candle series and a cache built the way the service builds one (defaults from Settings)."""

from __future__ import annotations

from redis.asyncio import Redis

from livermore.cache import CandleCache
from livermore.config import Settings
from livermore.models import Candle, Timeframe
from livermore.service import candle_cache

NOW = 1_750_000_000_000
TF = Timeframe.M5


def cache_of(redis: Redis, **overrides: int) -> CandleCache:
    """A CandleCache with Settings' defaults, or with the given ones."""
    return candle_cache(redis, Settings().model_copy(update=overrides))


def series(
    symbol: str, n: int, *, newest: int | None = None, skip: frozenset[int] = frozenset(), tf: Timeframe = TF
) -> list[Candle]:
    """n candles ending at `newest` (default: the current open interval), minus the indices in `skip`."""
    top = tf.floor(NOW) if newest is None else newest
    return [Candle(top - i * tf.ms, 10.0, 11.0, 9.0, 10.5, 1.0, symbol, tf) for i in range(n) if i not in skip]
