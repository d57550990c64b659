"""StartupBackfillService: the original's brute force for ad-hoc operations (force-backfill,
add-symbol, bulk-add-symbols): the newest N candles of each pair, whatever the cache holds,
through the same rate limiter and cache writer as the smart warmup."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis

from livermore.cache import CandleCache
from livermore.config import Settings
from livermore.exchanges import ExchangeAdapter
from livermore.models import SCAN_TIMEFRAME_ORDER, Timeframe
from livermore.warmup.fetch import fetch_and_store
from livermore.warmup.types import DEFAULT_CANDLE_TARGET, now_ms

log = logging.getLogger(__name__)


@dataclass
class BackfillReport:
    pairs: int = 0
    completed: int = 0
    failed: int = 0
    candles_written: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class StartupBackfillService:
    def __init__(self, redis: Redis, adapter: ExchangeAdapter, settings: Settings, *, clock: Callable[[], int] = now_ms):
        self.adapter = adapter
        self.settings = settings
        self.clock = clock
        self.cache = CandleCache(redis, settings.max_candles, settings.scan_chunk)

    async def backfill(
        self,
        exchange_id: int,
        symbols: Sequence[str],
        timeframes: Sequence[Timeframe] | None = None,
        candle_count: int = DEFAULT_CANDLE_TARGET,
    ) -> BackfillReport:
        """Fetch the newest `candle_count` candles of every pair; a failing pair is recorded, not raised."""
        pairs = [(s, tf) for tf in (timeframes or SCAN_TIMEFRAME_ORDER) for s in dict.fromkeys(symbols)]
        report = BackfillReport(pairs=len(pairs))
        slots = asyncio.Semaphore(self.settings.max_in_flight)

        async def one(symbol: str, tf: Timeframe) -> None:
            start = tf.floor(self.clock()) - (candle_count - 1) * tf.ms
            async with slots:
                try:
                    written = await fetch_and_store(self.adapter, self.cache, exchange_id, symbol, tf, start, self.clock)
                except Exception as e:
                    log.warning("backfill %s %s failed: %s", symbol, tf.value, e)
                    report.failed += 1
                    report.failures.append({"symbol": symbol, "timeframe": tf.value, "error": str(e) or type(e).__name__})
                    return
            report.completed += 1
            report.candles_written += written

        await asyncio.gather(*(one(s, tf) for s, tf in pairs))
        return report
