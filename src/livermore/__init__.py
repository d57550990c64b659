"""Livermore: keeps a Redis cache of exchange OHLCV candles complete and fresh.

The few names a user imports; everything else lives in its layer's package (see README's layout).
"""

from livermore.cache import CandleCache
from livermore.config import Settings
from livermore.errors import LivermoreError
from livermore.exchanges import make_adapter
from livermore.models import Candle, Timeframe
from livermore.warmup import WarmupService, WarmupStats

__all__ = [
    "Candle",
    "CandleCache",
    "LivermoreError",
    "Settings",
    "Timeframe",
    "WarmupService",
    "WarmupStats",
    "make_adapter",
]
