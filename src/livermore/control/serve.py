"""The long-running service: control-channel listener and admin web app in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis

from livermore.admin.app import AdminDeps, create_app
from livermore.admin.metrics import WarmupMetrics
from livermore.cache import CandleCache
from livermore.config import Settings
from livermore.control.channel import ControlChannel
from livermore.control.handlers import CommandHandlers, ExchangeContext
from livermore.control.protocol import CommandError
from livermore.control.runner import WarmupRunner
from livermore.exchanges import ExchangeAdapter
from livermore.models import Timeframe
from livermore.warmup.backfill import StartupBackfillService
from livermore.warmup.scanner import CandleStatusScanner
from livermore.warmup.service import SmartWarmupService
from livermore.warmup.symbols import MonitoredSymbols, SymbolCatalog, normalize_symbol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    timeframes: list[Timeframe]
    autostart: bool = False
    seed_symbols: list[str] | None = None
    seed_top: int | None = None
    quote: str = "USDT"


class _Server(uvicorn.Server):
    """Uvicorn without its own signal handling: the service owns SIGTERM/SIGINT, because it must
    cancel the warmup (at an entry boundary) before the web server goes."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def seed_symbols(symbols: MonitoredSymbols, adapter: ExchangeAdapter, options: ServeOptions) -> list[str]:
    """Fill the monitored set from --symbols or --top only when it is empty."""
    if options.seed_symbols:
        wanted = [normalize_symbol(s) for s in options.seed_symbols]
    elif options.seed_top:
        wanted = await adapter.top_symbols(options.seed_top, options.quote)
    else:
        wanted = []
    if await symbols.seed(wanted):
        log.info("monitoring %d symbols: %s", len(wanted), ", ".join(wanted))
    return await symbols.all()


@dataclass(frozen=True)
class Service:
    """One exchange's serving parts, wired once; the tests assemble the very same."""

    runner: WarmupRunner
    handlers: CommandHandlers
    channel: ControlChannel
    app: FastAPI
    closing: asyncio.Event  # ends the admin app's event streams


def assemble(
    redis: Redis, adapter: ExchangeAdapter, settings: Settings, timeframes: Sequence[Timeframe], token: str
) -> Service:
    exchange_id = adapter.exchange_id
    cache = CandleCache(redis, settings.max_candles, settings.scan_chunk)
    metrics = WarmupMetrics(adapter)
    runner = WarmupRunner(SmartWarmupService(redis, adapter, settings), exchange_id, metrics.observe)
    context = ExchangeContext(
        exchange_id, list(timeframes), MonitoredSymbols(redis, exchange_id), SymbolCatalog(adapter),
        settings.default_candle_target,
    )
    handlers = CommandHandlers(redis, context, runner, StartupBackfillService(redis, adapter, settings), cache)
    scanner = CandleStatusScanner(cache, settings.min_candle_threshold)
    closing = asyncio.Event()
    app = create_app(AdminDeps(redis, handlers, scanner, metrics, token, adapter.name, closing=closing))
    return Service(runner, handlers, ControlChannel(redis, handlers, settings.command_sub), app, closing)


async def serve(
    settings: Settings,
    adapter: ExchangeAdapter,
    options: ServeOptions,
    stop: asyncio.Event,
    announce: Callable[[str], None],
) -> None:
    """Run until `stop` is set, then cancel any warmup, stop the web server and the listener."""
    async with Redis.from_url(settings.redis_url) as redis:
        await redis.ping()
        monitored = await seed_symbols(MonitoredSymbols(redis, adapter.exchange_id), adapter, options)
        token = settings.admin_token or secrets.token_urlsafe(24)
        if not settings.admin_token:
            announce(f"admin token (generated, shown once): {token}")
        service = assemble(redis, adapter, settings, options.timeframes, token)
        config = uvicorn.Config(
            service.app, host=options.host, port=options.port, log_level="warning", lifespan="off",
            timeout_graceful_shutdown=5,
        )
        web = _Server(config)

        listening = asyncio.create_task(service.channel.run())
        serving = asyncio.create_task(web.serve())
        stopping = asyncio.create_task(stop.wait())
        try:
            await service.channel.ready.wait()
            while not web.started and not serving.done():
                await asyncio.sleep(0.02)
            if serving.done():
                raise RuntimeError(f"the admin server could not listen on {options.host}:{options.port}")
            announce(
                f"serving {adapter.name} (exchange {adapter.exchange_id}, {len(monitored)} symbols) on "
                f"http://{options.host}:{options.port}/ and livermore:commands:{settings.command_sub}"
            )
            if options.autostart:
                await _autostart(service.handlers)
            done, _ = await asyncio.wait({listening, serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a listener or web server that died takes the service down, loudly
        finally:
            announce("shutting down")
            await service.runner.stop()  # viewers still get the final (cancelled) stats
            service.closing.set()
            web.should_exit = True
            for task in (listening, stopping):
                task.cancel()
            await asyncio.gather(serving, listening, stopping, return_exceptions=True)


async def _autostart(handlers: CommandHandlers) -> None:
    """`start` at boot through the same handler as the channel; a refusal is logged, not fatal."""
    try:
        await handlers.dispatch("start", None)
    except CommandError as e:
        log.warning("autostart refused: %s", e)
    else:
        log.info("autostart: warmup started")
