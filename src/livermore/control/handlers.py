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
from livermore.errors import (
    BackfillRunning,
    CommandConflict,
    CommandError,
    InstanceAlreadyServing,
    WarmupAlreadyRunning,
)
from livermore.models import Timeframe
from livermore.warmup import WarmupService, WarmupStats
from livermore.warmup.instance import InstancePresence
from livermore.warmup.runner import WarmupRunner
from livermore.warmup.symbols import MonitoredSymbols, SymbolCatalog

Data = dict[str, Any]
STOP_WAIT_S = 10.0  # how long `stop` waits for the run's final stats before answering anyway
NOTHING_RUNS = "no warmup or backfill is running"


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
    The backfilling commands (force-backfill, add-symbol, bulk-add-symbols) answer `Accepted` once
    their backfill is the exchange's running job: the original's reply comes when it has ended, and
    the queue of commands never waits behind one.
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
        except BackfillRunning as e:  # `already_started` would say a warmup runs
            raise CommandConflict(str(e)) from None
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
            return {"status": "already_idle", "message": NOTHING_RUNS}
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
        job = self.runner.job
        if not self.runner.cancel():
            raise CommandConflict(NOTHING_RUNS)
        return {"cancelling": True, "job": job}

    async def status(self, _: NoPayload) -> Data:
        stats = await self.warmup.store.load_stats(self.ctx.exchange_id)
        schedule = await self.warmup.store.load_schedule(self.ctx.exchange_id)
        return {
            "exchangeId": self.ctx.exchange_id,
            "running": self.runner.running,
            "job": self.runner.job,
            "paused": self.runner.paused,
            "symbols": await self.ctx.symbols.all(),
            "timeframes": [tf.value for tf in self.ctx.timeframes],
            "stats": stats.to_dict() if stats else None,
            "schedule": schedule.to_dict() if schedule else None,
        }

    async def force_backfill(self, p: ForceBackfillPayload) -> Result:
        symbol = await self._known_or_refuse(p.symbol)
        timeframes = p.timeframes or self.ctx.timeframes
        job = await self._start_backfill([symbol], timeframes)
        return self._accepted(job, {"symbol": symbol, "timeframes": [tf.value for tf in timeframes]})

    async def add_symbol(self, p: SymbolPayload) -> Result:
        symbol = await self._known_or_refuse(p.symbol)
        if await self.ctx.symbols.contains(symbol):
            return {"status": "already_exists", "symbol": symbol, "message": f"{symbol} is already monitored"}
        job = await self._start_backfill([symbol], self.ctx.timeframes)  # refused: nothing added
        await self.ctx.symbols.add([symbol])
        return self._accepted(job, {"added": True, "symbol": symbol, "totalSymbols": len(await self.ctx.symbols.all())})

    async def bulk_add_symbols(self, p: BulkSymbolsPayload) -> Result:
        """`added`/`skipped` are counts, as the original's; the lists are beside them."""
        known, unknown = await self.ctx.catalog.split(p.symbols)
        if not known:
            raise CommandError(f"unknown symbols on exchange {self.ctx.exchange_id}: {', '.join(unknown)}")
        job = await self._start_backfill(known, self.ctx.timeframes)
        added = await self.ctx.symbols.add(known)
        monitored = [s for s in known if s not in added]
        return self._accepted(
            job,
            {
                "added": len(added),
                "skipped": len(unknown) + len(monitored),
                "symbols": added,
                "totalSymbols": len(await self.ctx.symbols.all()),
                "unknown": unknown,
                "alreadyMonitored": monitored,
            },
        )

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
            job = self.runner.job or "warmup"  # another process's: a `livermore warmup` (only the instance backfills)
            raise CommandConflict(f"a {job} is running; cancel it (or wait) before clearing the cache") from None

    async def _known_or_refuse(self, symbol: str) -> str:
        """The symbol in the exchange's own spelling (`BTC-USDT` -> `BTCUSDT` on Binance), or refused."""
        known, _ = await self.ctx.catalog.split([symbol])
        if not known:
            raise CommandError(f"unknown symbol on exchange {self.ctx.exchange_id}: {symbol}")
        return known[0]

    async def _start_backfill(self, symbols: list[str], timeframes: Sequence[Timeframe]) -> asyncio.Task[WarmupStats]:
        """The backfill as the exchange's job, or refused naming the job that runs (here or elsewhere)."""
        try:
            return await self.runner.backfill(symbols, timeframes)
        except WarmupAlreadyRunning as e:
            raise CommandConflict(str(e)) from None

    def _accepted(self, job: asyncio.Task[WarmupStats], data: Data) -> Accepted:
        """`data` now, marked `backfilling` (the admin API's 202); the reply once the backfill ended."""
        done = asyncio.create_task(self._backfilled(job, data))
        done.add_done_callback(_retrieve)
        return Accepted({**data, "timestamp": self._now(), "backfilling": True}, done)

    async def _backfilled(self, job: asyncio.Task[WarmupStats], data: Data) -> Data:
        """The original's reply: `backfilled` only when every pair was fetched; the stats in
        `backfill` say what else happened (`outcome` cancelled, failed...)."""
        try:
            stats = await asyncio.shield(job)  # a listener going away does not end the job; stop/cancel does
        except WarmupAlreadyRunning as e:  # another process took the lease since the runner looked
            raise CommandConflict(str(e)) from None
        backfill = stats.to_dict()
        return {**data, "backfilled": stats.outcome == "complete", "timestamp": self._now(), "backfill": backfill}


def iso_utc(ms: int) -> str:
    """`2026-02-01T12:00:00.000Z`, as JavaScript's `toISOString()` writes it."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _retrieve(done: asyncio.Task[Data]) -> None:
    """Nobody awaits a backfill accepted over HTTP: its failure is the runner's to log, not
    asyncio's "exception was never retrieved"."""
    if not done.cancelled():
        done.exception()


def _kinds(cleared: Cleared) -> Data:
    return {"candles": cleared.candles, "tickers": cleared.tickers, "indicators": cleared.indicators}
