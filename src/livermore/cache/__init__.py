"""Candle storage in the original's Redis layout (Lua scripts in `lua/`); knows nothing of exchanges or warmups."""

from livermore.cache.candles import CandleCache, Coverage, PairWindow

__all__ = ["CandleCache", "Coverage", "PairWindow"]
