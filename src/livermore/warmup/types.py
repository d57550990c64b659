"""Warmup types and constants; JSON shapes are the original's camelCase (its admin UI reads them)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from livermore.models import SCAN_TIMEFRAME_ORDER, Timeframe

MIN_CANDLE_THRESHOLD = 60
DEFAULT_CANDLE_TARGET = 100

__all__ = [
    "DEFAULT_CANDLE_TARGET",
    "MIN_CANDLE_THRESHOLD",
    "SCAN_TIMEFRAME_ORDER",
    "CandleStatusResult",
    "Reason",
    "WarmupSchedule",
    "WarmupScheduleEntry",
    "now_ms",
]

Reason = Literal["empty", "low_count", "stale", "gap", "ok"]


def now_ms() -> int:
    """Wall-clock Unix ms; every warmup class takes a clock like this so tests can move time."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class CandleStatusResult:
    """The scanner's verdict on one symbol x timeframe pair."""

    symbol: str
    timeframe: Timeframe
    cached_count: int
    newest_open_time: int | None
    sufficient: bool
    reason: Reason
    holed: bool = False  # the cached newest candles have a hole (whatever else is wrong)


class _CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


class WarmupScheduleEntry(_CamelModel):
    """One pair to fetch: from `fetch_from` (open time, ms) up to now."""

    symbol: str
    timeframe: Timeframe
    cached_count: int
    target_count: int
    reason: Reason
    fetch_from: int

    @property
    def id(self) -> str:
        return f"{self.symbol}:{self.timeframe.value}"


class WarmupSchedule(_CamelModel):
    """The persisted plan, `exchange:<id>:warm-up-schedule:symbols`."""

    exchange_id: int
    created_at: int
    mode: str = "smart"
    total_pairs: int
    sufficient_pairs: int
    needs_fetching: int
    entries: list[WarmupScheduleEntry]
