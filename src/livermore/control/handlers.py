"""The commands themselves: one code path for the control channel and the admin API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from livermore.control.payloads import (
    BulkSymbolsPayload,
    ClearCachePayload,
    ForceBackfillPayload,
    NoPayload,
    StartPayload,
    SymbolPayload,
)
from livermore.control.protocol import describe_validation_error
from livermore.errors import CommandConflict, CommandError, WarmupAlreadyRunning
from livermore.models import Timeframe
from livermore.warmup import WarmupService, WarmupStats
from livermore.warmup.runner import WarmupRunner
from livermore.warmup.symbols import MonitoredSymbols, SymbolCatalog

Data = dict[str, Any]


@dataclass(frozen=True)
class Accepted:
    """A command that goes on in the background: `data` describes it now, `done` gives the outcome."""

    data: Data
    done: asyncio.Task[Data]


Result = Data | Accepted


@dataclass(frozen=True)
class _Spec:
    payload: type[BaseModel]
    run: Callable[[Any], Awaitable[Result]]


@dataclass(frozen=True)
class ExchangeContext:
    """What the handlers act on: one exchange, its timeframes, its monitored symbols and catalogue."""

    exchange_id: int
    timeframes: Sequence[Timeframe]
    symbols: MonitoredSymbols
    catalog: SymbolCatalog


class CommandHandlers:
    """Validates a payload with its command's model, then runs the command; raises CommandError."""

    def __init__(self, context: ExchangeContext, runner: WarmupRunner):
        self.ctx = context
        self.runner = runner
        self.warmup: WarmupService = runner.service
        self._specs: dict[str, _Spec] = {
            "start": _Spec(StartPayload, self.start),
            "cancel": _Spec(NoPayload, self.cancel),
            "status": _Spec(NoPayload, self.status),
            "force-backfill": _Spec(ForceBackfillPayload, self.force_backfill),
            "add-symbol": _Spec(SymbolPayload, self.add_symbol),
            "remove-symbol": _Spec(SymbolPayload, self.remove_symbol),
            "bulk-add-symbols": _Spec(BulkSymbolsPayload, self.bulk_add_symbols),
            "clear-cache": _Spec(ClearCachePayload, self.clear_cache),
        }

    @property
    def types(self) -> list[str]:
        return list(self._specs)

    def validate(self, command_type: str, payload: dict[str, Any] | None) -> tuple[_Spec, BaseModel]:
        """Refuse unknown types and bad payloads before a command is queued."""
        spec = self._specs.get(command_type)
        if spec is None:
            raise CommandError(f"unknown command type {command_type!r} (known: {', '.join(self._specs)})")
        try:
            return spec, spec.payload.model_validate(payload or {})
        except ValidationError as e:
            raise CommandError(f"invalid payload for {command_type}: {describe_validation_error(e)}") from None

    async def dispatch(self, command_type: str, payload: dict[str, Any] | None) -> Result:
        spec, model = self.validate(command_type, payload)
        return await spec.run(model)

    async def start(self, p: StartPayload) -> Accepted:
        symbols = await self.ctx.symbols.all()
        if not symbols:
            raise CommandError(f"no monitored symbols for exchange {self.ctx.exchange_id}; add some first")
        timeframes = p.timeframes or self.ctx.timeframes
        try:
            run = await self.runner.start(symbols, timeframes)
        except WarmupAlreadyRunning as e:
            raise CommandConflict(str(e)) from None
        data = {
            "exchangeId": self.ctx.exchange_id,
            "symbols": len(symbols),
            "timeframes": [tf.value for tf in timeframes],
        }
        outcome = asyncio.ensure_future(_outcome(run))
        outcome.add_done_callback(_retrieved)  # a start over HTTP has nobody waiting for its reply
        return Accepted(data, outcome)

    async def cancel(self, _: NoPayload) -> Data:
        if not self.runner.cancel():
            raise CommandConflict("no warmup is running")
        return {"cancelling": True}

    async def status(self, _: NoPayload) -> Data:
        stats = await self.warmup.store.load_stats(self.ctx.exchange_id)
        schedule = await self.warmup.store.load_schedule(self.ctx.exchange_id)
        return {
            "exchangeId": self.ctx.exchange_id,
            "running": self.runner.running,
            "symbols": await self.ctx.symbols.all(),
            "timeframes": [tf.value for tf in self.ctx.timeframes],
            "stats": stats.to_dict() if stats else None,
            "schedule": schedule.to_dict() if schedule else None,
        }

    async def force_backfill(self, p: ForceBackfillPayload) -> Data:
        symbol = await self._known_or_refuse(p.symbol)
        return {"symbol": symbol, "backfill": await self._backfill([symbol], p.timeframes)}

    async def add_symbol(self, p: SymbolPayload) -> Data:
        symbol = await self._known_or_refuse(p.symbol)
        added = await self.ctx.symbols.add([symbol])
        return {"symbol": symbol, "added": bool(added), "backfill": await self._backfill([symbol])}

    async def bulk_add_symbols(self, p: BulkSymbolsPayload) -> Data:
        known, unknown = await self.ctx.catalog.split(p.symbols)
        if not known:
            raise CommandError(f"unknown symbols on exchange {self.ctx.exchange_id}: {', '.join(unknown)}")
        added = await self.ctx.symbols.add(known)
        return {"added": added, "unknown": unknown, "backfill": await self._backfill(known)}

    async def remove_symbol(self, p: SymbolPayload) -> Data:
        if not await self.ctx.symbols.remove(p.symbol):
            raise CommandError(f"{p.symbol} is not a monitored symbol")
        return {"symbol": p.symbol, "removed": True}

    async def clear_cache(self, p: ClearCachePayload) -> Data:
        symbol = p.symbol if p.scope == "symbol" else None
        timeframe = p.timeframe if p.scope == "timeframe" else None
        try:
            deleted = await self.warmup.clear_cache(self.ctx.exchange_id, symbol, timeframe)
        except WarmupAlreadyRunning:  # in any process: it would write into what is cleared, from a stale scan
            raise CommandConflict("a warmup is running; cancel it (or wait) before clearing the cache") from None
        return {"scope": p.scope, "deletedKeys": deleted}

    async def _known_or_refuse(self, symbol: str) -> str:
        """The symbol in the exchange's own spelling (`BTC-USDT` -> `BTCUSDT` on Binance), or refused."""
        known, _ = await self.ctx.catalog.split([symbol])
        if not known:
            raise CommandError(f"unknown symbol on exchange {self.ctx.exchange_id}: {symbol}")
        return known[0]

    async def _backfill(self, symbols: list[str], timeframes: Sequence[Timeframe] | None = None) -> Data:
        stats = await self.warmup.backfill(self.ctx.exchange_id, symbols, timeframes or self.ctx.timeframes)
        return stats.to_dict()


def _retrieved(task: asyncio.Future[Data]) -> None:
    """The runner logs how a run ended; an error reply nobody waits for is not an error of ours."""
    if not task.cancelled():
        task.exception()


async def _outcome(run: asyncio.Task[WarmupStats]) -> Data:
    """A `start`'s reply: its final stats, as `success` only when the run completed."""
    stats = await run
    if stats.outcome != "complete":
        raise CommandError(f"warmup ended {stats.outcome}: {stats.message}", stats.to_dict())
    return stats.to_dict()
