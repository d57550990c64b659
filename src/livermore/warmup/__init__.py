"""Scan -> schedule -> execute. Talks to Redis through `cache` and to exchanges through `exchanges`."""

from livermore.warmup.backfill import BackfillReport, StartupBackfillService
from livermore.warmup.scanner import CandleStatusScanner
from livermore.warmup.schedule import WarmupScheduleBuilder
from livermore.warmup.service import SmartWarmupService, WarmupAlreadyRunning, WarmupReport
from livermore.warmup.stats import WarmupStats, load_stats
from livermore.warmup.types import (
    DEFAULT_CANDLE_TARGET,
    MIN_CANDLE_THRESHOLD,
    SCAN_TIMEFRAME_ORDER,
    CandleStatusResult,
    WarmupSchedule,
    WarmupScheduleEntry,
)

__all__ = [
    "DEFAULT_CANDLE_TARGET",
    "MIN_CANDLE_THRESHOLD",
    "SCAN_TIMEFRAME_ORDER",
    "BackfillReport",
    "CandleStatusResult",
    "CandleStatusScanner",
    "SmartWarmupService",
    "StartupBackfillService",
    "WarmupAlreadyRunning",
    "WarmupReport",
    "WarmupSchedule",
    "WarmupScheduleBuilder",
    "WarmupScheduleEntry",
    "WarmupStats",
    "load_stats",
]
