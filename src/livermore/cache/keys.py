"""Redis key builders, byte-for-byte those of the original system (its other services read them)."""

from __future__ import annotations


def exchange_candle_key(exchange_id: int, symbol: str, timeframe: str) -> str:
    """Sorted set of candles: `candles:<exchangeId>:<symbol>:<timeframe>`."""
    return f"candles:{exchange_id}:{symbol}:{timeframe}"


def warmup_schedule_key(exchange_id: int) -> str:
    """JSON schedule of the last warmup, no TTL."""
    return f"exchange:{exchange_id}:warm-up-schedule:symbols"


def warmup_stats_key(exchange_id: int) -> str:
    """JSON progress stats of the current or last warmup, no TTL."""
    return f"exchange:{exchange_id}:warm-up-schedule:stats"


def warmup_events_channel(exchange_id: int) -> str:
    """Pub/sub channel on which every stats update is also published (ours, for live viewers)."""
    return f"exchange:{exchange_id}:warm-up-schedule:events"


def warmup_lock_key(exchange_id: int) -> str:
    """Lease lock: one warmup per exchange at a time (ours)."""
    return f"exchange:{exchange_id}:warm-up-schedule:lock"


def warmup_queue_key(exchange_id: int) -> str:
    """Redis Stream of schedule entries, consumed by a consumer group (ours)."""
    return f"exchange:{exchange_id}:warm-up-schedule:queue"


def candle_history_key(exchange_id: int) -> str:
    """Hash: candle key -> open time of the pair's first candle on the exchange, where a fetch found
    the exchange has nothing older (a recent listing), so a short series counts as whole (ours)."""
    return f"exchange:{exchange_id}:candle-history-start"
