"""The commands themselves: one code path for the control channel and the admin API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from livermore.cache.candles import Cleared
from livermore.control.payloads import (
    VALID_MODES,
    BulkSymbolsPayload,
    ClearCachePayload,
    ForceBackfillPayload,
    NoPayload,
    StartPayload,
    SwitchModePayload,
    SymbolPayload,
)
from livermore.control.protocol import describe_validation_error
from livermore.errors import CommandConflict, CommandError, InstanceAlreadyServing, WarmupAlreadyRunning
from livermore.models import Timeframe
from livermore.warmup import WarmupService
from livermore.warmup.instance import InstancePresence
from livermore.warmup.runner import WarmupRunner
from livermore.warmup.symbols import MonitoredSymbols, SymbolCatalog

Data = dict[str, Any]
STOP_WAIT_S = 10.0  # how long `stop` waits for the run's final stats before answering anyway


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
    """What the handlers act on: one exchange, its timeframes, its monitored symbols and catalogue,
    and the instance status key when this process is the registered instance (`serve`)."""

    exchange_id: int
    timeframes: Sequence[Timeframe]
    symbols: MonitoredSymbols
    catalog: SymbolCatalog
    presence: InstancePresence | None = None


class CommandHandlers:
    """Validates a payload with its command's model, then runs the command; raises CommandError.

    The command types and reply `data` are the original's (every field it has, with its type, in
    camelCase; ours are extra fields beside them); `status` and `cancel` are our extensions.
    Every `timestamp` in a reply's data is an ISO-8601 UTC string, as the original writes times
    (the envelope's `timestamp` stays ms, as the original's).
    """

    def __init__(self, context: ExchangeContext, runner: WarmupRunner):
        self.ctx = context
        self.runner = runner
        self.warmup: WarmupService = runner.service
        self._specs: dict[str, _Spec] = {
            "start": _Spec(StartPayload, self.start),
            "stop": _Spec(NoPayload, self.stop),
            "pause": _Spec(NoPayload, self.pause),
            "resume": _Spec(NoPayload, self.resume),
            "reload-settings": _Spec(NoPayload, self.reload_settings),
            "switch-mode": _Spec(SwitchModePayload, self.switch_mode),
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

    @property
    def exchange(self) -> str:
        """The served exchange's name, as the original's `exchange` fields carry it."""
        return self.warmup.adapter.name

    def validate(self, command_type: str, payload: dict[str, Any] | None) -> tuple[_Spec, BaseModel]:
        """Refuse unknown types and bad payloads before a command is queued."""
        spec = self._specs.get(command_type)
        if spec is None:
            raise CommandError(f"unknown command type {command_type!r} (known: {', '.join(self._specs)})")
        try:
            model = spec.payload.model_validate(payload or {})
        except ValidationError as e:
            raise CommandError(f"invalid payload for {command_type}: {describe_validation_error(e)}") from None
        if isinstance(model, StartPayload) and model.exchange not in (None, self.exchange):
            raise CommandError(f"start names exchange {model.exchange!r}, but this service serves {self.exchange!r}")
        return spec, model

    async def dispatch(self, command_type: str, payload: dict[str, Any] | None) -> Result:
        spec, model = self.validate(command_type, payload)
        return await spec.run(model)

    def _now(self) -> str:
        return iso_utc(self.warmup.clock())

    async def start(self, p: StartPayload) -> Data:
        """Answered `started` at once, as the original does; the run's progress and outcome are in
        the stats (the stats key, `status`, the page)."""
        symbols = await self.ctx.symbols.all()
        if not symbols:
            raise CommandError(f"no monitored symbols for exchange {self.ctx.exchange_id}; add some first")
        timeframes = p.timeframes or self.ctx.timeframes
        if self.ctx.presence is not None:
            try:
                await self.ctx.presence.wake()  # after a `stop`: registered and heartbeating again
            except InstanceAlreadyServing as e:
                raise CommandError(str(e)) from None
        try:
            await self.runner.start(symbols, timeframes)
        except WarmupAlreadyRunning as e:
            return {"status": "already_started", "exchange": self.exchange, "message": str(e)}
        return {
            "status": "started",
            "exchange": self.exchange,
            "symbolCount": len(symbols),
            "timestamp": self._now(),
            "exchangeId": self.ctx.exchange_id,
            "timeframes": [tf.value for tf in timeframes],
            "paused": self.runner.paused,
        }

    async def stop(self, _: NoPayload) -> Data:
        """Cancel the run (outcome `cancelled`) and wait for it to record its final stats: within one
        request, unless it still waits for a previous run's lease (then `outcome` is null and the
        run ends cancelled as soon as it has the lease; the queue is not held meanwhile). Then the
        instance is `stopped`, its heartbeat silent until the next `start`. Idle means no run and
        an instance already stopped (or none: a process that is not the registered instance)."""
        presence = self.ctx.presence
        cancelled = self.runner.cancel()
        if not cancelled and (presence is None or presence.halted):
            return {"status": "already_idle", "message": "no warmup is running"}
        stats = await self.runner.wait(STOP_WAIT_S) if cancelled else None
        if presence is not None:
            await presence.halt()
        return {"status": "stopped", "timestamp": self._now(), "outcome": stats.outcome if stats else None}

    async def pause(self, _: NoPayload) -> Data:
        if not self.runner.pause():
            return {"status": "already_paused"}
        return {"status": "paused", "timestamp": self._now(), "running": self.runner.running}

    async def resume(self, _: NoPayload) -> Data:
        if not self.runner.resume():
            return {"status": "already_running"}
        return {"status": "resumed", "timestamp": self._now(), "running": self.runner.running}

    async def reload_settings(self, _: NoPayload) -> Data:
        """Re-read what a command may change from outside (the monitored symbols) and answer what
        is in effect."""
        symbols = await self.ctx.symbols.all()
        return {
            "reloaded": True,
            "timestamp": self._now(),
            "hasSettings": True,
            "exchange": self.exchange,
            "symbols": symbols,
            "symbolCount": len(symbols),
            "timeframes": [tf.value for tf in self.ctx.timeframes],
        }

    async def switch_mode(self, p: SwitchModePayload) -> Data:
        return {
            "switched": True,
            "mode": p.mode,
            "message": f"this service only warms the candle cache and has no strategy modes: {p.mode} changes nothing",
            "validModes": list(VALID_MODES),
        }

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
            "paused": self.runner.paused,
            "symbols": await self.ctx.symbols.all(),
            "timeframes": [tf.value for tf in self.ctx.timeframes],
            "stats": stats.to_dict() if stats else None,
            "schedule": schedule.to_dict() if schedule else None,
        }

    async def force_backfill(self, p: ForceBackfillPayload) -> Data:
        symbol = await self._known_or_refuse(p.symbol)
        timeframes = p.timeframes or self.ctx.timeframes
        backfill = await self._backfill([symbol], timeframes)
        return {
            "backfilled": backfill["outcome"] == "complete",
            "symbol": symbol,
            "timeframes": [tf.value for tf in timeframes],
            "timestamp": self._now(),
            "backfill": backfill,
        }

    async def add_symbol(self, p: SymbolPayload) -> Data:
        symbol = await self._known_or_refuse(p.symbol)
        if not await self.ctx.symbols.add([symbol]):
            return {"status": "already_exists", "symbol": symbol, "message": f"{symbol} is already monitored"}
        backfill = await self._backfill([symbol])
        return {
            "added": True,
            "symbol": symbol,
            "totalSymbols": len(await self.ctx.symbols.all()),
            "backfilled": backfill["outcome"] == "complete",
            "timestamp": self._now(),
            "backfill": backfill,
        }

    async def bulk_add_symbols(self, p: BulkSymbolsPayload) -> Data:
        """`added`/`skipped` are counts, as the original's; the lists are beside them."""
        known, unknown = await self.ctx.catalog.split(p.symbols)
        if not known:
            raise CommandError(f"unknown symbols on exchange {self.ctx.exchange_id}: {', '.join(unknown)}")
        added = await self.ctx.symbols.add(known)
        monitored = [s for s in known if s not in added]
        return {
            "added": len(added),
            "skipped": len(unknown) + len(monitored),
            "symbols": added,
            "totalSymbols": len(await self.ctx.symbols.all()),
            "timestamp": self._now(),
            "unknown": unknown,
            "alreadyMonitored": monitored,
            "backfill": await self._backfill(known),
        }

    async def remove_symbol(self, p: SymbolPayload) -> Data:
        """Deletes what the original deletes (candles, ticker, indicators of the symbol) under the
        warmup lease, then stops monitoring it."""
        if not await self.ctx.symbols.contains(p.symbol):
            return {"status": "not_found", "symbol": p.symbol, "message": f"{p.symbol} is not a monitored symbol"}
        cleared = await self._clear(p.symbol, None)
        await self.ctx.symbols.remove(p.symbol)
        return {
            "removed": True,
            "symbol": p.symbol,
            "totalSymbols": len(await self.ctx.symbols.all()),
            "deletedCount": cleared.total,
            "timestamp": self._now(),
            "deleted": _kinds(cleared),
        }

    async def clear_cache(self, p: ClearCachePayload) -> Data:
        symbol = p.symbol if p.scope == "symbol" else None
        timeframe = p.timeframe if p.scope == "timeframe" else None
        cleared = await self._clear(symbol, timeframe)
        return {
            "cleared": True,
            "scope": p.scope,
            "symbol": symbol,
            "timeframe": timeframe.value if timeframe else None,
            "deletedCount": cleared.total,
            "timestamp": self._now(),
            "deleted": _kinds(cleared),
        }

    async def _clear(self, symbol: str | None, timeframe: Timeframe | None) -> Cleared:
        try:
            return await self.warmup.clear_cache(self.ctx.exchange_id, symbol, timeframe)
        except WarmupAlreadyRunning:  # in any process: it would write into what is cleared, from a stale scan
            raise CommandConflict("a warmup is running; cancel it (or wait) before clearing the cache") from None

    async def _known_or_refuse(self, symbol: str) -> str:
        """The symbol in the exchange's own spelling (`BTC-USDT` -> `BTCUSDT` on Binance), or refused."""
        known, _ = await self.ctx.catalog.split([symbol])
        if not known:
            raise CommandError(f"unknown symbol on exchange {self.ctx.exchange_id}: {symbol}")
        return known[0]

    async def _backfill(self, symbols: list[str], timeframes: Sequence[Timeframe] | None = None) -> Data:
        stats = await self.warmup.backfill(self.ctx.exchange_id, symbols, timeframes or self.ctx.timeframes)
        return stats.to_dict()


def iso_utc(ms: int) -> str:
    """`2026-02-01T12:00:00.000Z`, as JavaScript's `toISOString()` writes it."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _kinds(cleared: Cleared) -> Data:
    return {"candles": cleared.candles, "tickers": cleared.tickers, "indicators": cleared.indicators}
