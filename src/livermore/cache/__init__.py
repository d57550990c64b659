"""Redis keys and candle storage; nothing here knows about exchanges or warmups."""

from livermore.cache.candles import CandleCache, PairWindow
from livermore.cache.keys import exchange_candle_key, warmup_schedule_key, warmup_stats_key

__all__ = ["CandleCache", "PairWindow", "exchange_candle_key", "warmup_schedule_key", "warmup_stats_key"]
