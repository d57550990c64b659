"""Livermore: keeps a Redis cache of exchange OHLCV candles complete and fresh."""

from livermore.models import Candle, Timeframe

__all__ = ["Candle", "Timeframe"]
