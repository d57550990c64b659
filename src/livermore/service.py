"""The composition root: builds the cache, the adapter, the warmup, the control listener and the
admin app from Settings, and runs `livermore serve`. The only module (with the CLI) that reads
Settings: it maps them onto the plain constructor arguments of the layers below."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException
from redis.exceptions import TimeoutError as RedisTimeoutError

from livermore.admin.app import AdminDeps, HttpPolicy, create_app
from livermore.admin.metrics import WarmupMetrics
from livermore.cache import CandleCache
from livermore.config import Settings
from livermore.connection import RedisClient, ping_every_master
from livermore.control.channel import ControlChannel
from livermore.control.handlers import CommandHandlers, ExchangeContext
from livermore.errors import CommandError, InstanceAlreadyServing, UsageError
from livermore.exchanges import ClientOptions, ExchangeAdapter, RetryPolicy, make_adapter
from livermore.models import Timeframe, now_ms
from livermore.warmup import CandleStatusScanner, WarmupScheduleBuilder, WarmupService
from livermore.warmup.drain import WarmupPolicy
from livermore.warmup.instance import InstanceIdentity, InstancePresence
from livermore.warmup.runner import WarmupRunner
from livermore.warmup.symbols import MonitoredSymbols, SymbolCatalog, normalize_symbol
from livermore.warmup.worker import QueueWorker

log = logging.getLogger(__name__)


CLUSTER_SCHEME = "+cluster"  # redis+cluster://, rediss+cluster://: any node of a Redis Cluster


class _ClusterClient(RedisCluster):
    """redis-py's cluster client, but one that reaches no node raises ConnectionError, as the
    standalone client does, instead of a RedisClusterException (which is no RedisError): every
    layer's way with an unreachable Redis (the warmup waits, the listener subscribes again, the
    admin app answers 503, the CLI says so in one line) then holds on a cluster too."""

    async def initialize(self, *args: Any, **kwargs: Any) -> RedisCluster:
        try:
            return await super().initialize(*args, **kwargs)
        except RedisClusterException as e:
            raise RedisConnectionError(str(e)) from e


def redis_client(url: str) -> RedisClient:
    """Every process's Redis client: a Redis Cluster's when the URL's scheme says so
    (`redis+cluster://host:port`, any one node: the client finds the others), else a standalone
    server's. A command that meets a dropped connection (Redis restarted, a connection gone stale
    meanwhile) reconnects and is sent again, a few times within about half a second, so a blip is
    never seen above (a cluster's client asks for the slot map and sends again at once, with no
    backoff: that outlasts stale connections, not a restart); a longer outage raises
    ConnectionError, which the warmup (RedisOutage), the control channel and the admin app each
    weather in their own way. Connecting gives up after 5 s rather than hanging on an unreachable
    host."""
    scheme, _, rest = url.partition("://")
    options: dict[str, Any] = {
        "retry": Retry(ExponentialWithJitterBackoff(cap=0.25, base=0.02), 4),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        "socket_connect_timeout": 5,
    }
    if scheme.endswith(CLUSTER_SCHEME):
        return _ClusterClient.from_url(f"{scheme.removesuffix(CLUSTER_SCHEME)}://{rest}", **options)
    return Redis.from_url(url, **options)


def client_options(settings: Settings) -> ClientOptions:
    return ClientOptions(
        retry=RetryPolicy(
            settings.max_retries,
            settings.backoff_base_s,
            settings.max_in_flight,
            give_up_after_s=settings.request_deadline_s,
        ),
        timeout_s=settings.http_timeout_s,
        safety_margin=settings.safety_margin,
        egress=settings.egress_label,
        source_address=settings.source_address,
    )


def adapter_for(
    settings: Settings,
    exchange: str,
    *,
    base_url: str | None = None,
    exchange_id: int | None = None,
    redis: RedisClient | None = None,
) -> ExchangeAdapter:
    """The adapter for `exchange` ('binance', 'binance_us', 'coinbase'), at its production URL unless
    told. With `redis`, its rate budget is shared there by every process on the same egress (the
    warmup and the service); without (a command that has no Redis), it is limited in-process."""
    return make_adapter(exchange, client_options(settings), base_url=base_url, exchange_id=exchange_id, redis=redis)


def candle_cache(redis: RedisClient, settings: Settings) -> CandleCache:
    return CandleCache(redis, max_candles=settings.max_candles, scan_chunk=settings.scan_chunk)


def scanner_for(redis: RedisClient, settings: Settings, *, clock: Callable[[], int] = now_ms) -> CandleStatusScanner:
    return CandleStatusScanner(candle_cache(redis, settings), threshold=settings.min_candle_threshold, clock=clock)


def builder_for(settings: Settings, *, clock: Callable[[], int] = now_ms) -> WarmupScheduleBuilder:
    return WarmupScheduleBuilder(target=settings.default_candle_target, clock=clock)


def warmup_for(
    redis: RedisClient,
    adapter: ExchangeAdapter,
    settings: Settings,
    *,
    policy: WarmupPolicy = "smart",
    clock: Callable[[], int] = now_ms,
) -> WarmupService:
    return WarmupService(
        redis,
        adapter,
        scanner_for(redis, settings, clock=clock),
        builder_for(settings, clock=clock),
        SymbolCatalog(adapter, ttl_s=settings.symbol_catalog_ttl_s),
        max_in_flight=settings.max_in_flight,
        lock_ttl_s=settings.lock_ttl_s,
        stats_interval_s=settings.stats_interval_s,
        touch_up_passes=settings.touch_up_passes,
        redis_outage_limit_s=settings.redis_outage_limit_s,
        reclaim_idle_s=settings.reclaim_idle_s,
        drain_locally=settings.drain_locally,
        materialise_synthetic=settings.materialise_synthetic,
        policy=policy,
    )


def presence_for(
    redis: RedisClient, adapter: ExchangeAdapter, settings: Settings, *, symbols: Sequence[str] | None = None
) -> InstancePresence:
    """The instance status key of this process, to enter with `async with` (it raises
    InstanceAlreadyServing when another instance serves the exchange). `symbols`: what this process
    warms when it is not the monitored set (`livermore warmup --symbols`). The IP address stays
    null: finding the outward one needs a network call, and the service makes none of its own."""
    identity = InstanceIdentity(
        exchange_id=adapter.exchange_id,
        exchange_name=adapter.name,
        hostname=socket.gethostname(),
        country_code=settings.country_code,
        admin_email=settings.admin_email,
        admin_display_name=settings.admin_display_name,
    )
    monitored = MonitoredSymbols(redis, adapter.exchange_id)

    async def count_symbols() -> int:
        return len(symbols) if symbols is not None else len(await monitored.all())

    return InstancePresence(
        redis, identity, count_symbols, ttl_s=settings.instance_ttl_s, heartbeat_s=settings.heartbeat_s
    )


@contextlib.asynccontextmanager
async def presence_while_warming(
    redis: RedisClient, adapter: ExchangeAdapter, settings: Settings, symbols: Sequence[str]
) -> AsyncIterator[InstancePresence | None]:
    """`livermore warmup` as the exchange's instance: registered and `warming` while it runs,
    `stopped` when it ends. When an instance already serves the exchange (a `serve`), that one's key
    follows this run from its stats, and this yields None."""
    presence = presence_for(redis, adapter, settings, symbols=symbols)
    try:
        await presence.__aenter__()
    except InstanceAlreadyServing as e:
        log.info("not writing the instance status key: %s", e)
        yield None
        return
    try:
        await presence.set_state("warming")
        yield presence
    finally:
        await presence.__aexit__(None, None, None)


async def work(
    settings: Settings,
    exchange: str,
    stop: asyncio.Event,
    announce: Callable[[str], None],
    *,
    base_url: str | None = None,
    exchange_id: int | None = None,
) -> QueueWorker:
    """Run `livermore worker` until `stop` is set: fetch the entries of whatever warmup of the
    exchange runs, beside the process that scheduled it, within its egress's shared budget. Returns
    the worker (its passes, its tally)."""
    async with redis_client(settings.redis_url) as redis:
        await ping_every_master(redis)  # fail at boot, not at the first key on a dead master
        adapter = adapter_for(settings, exchange, base_url=base_url, exchange_id=exchange_id, redis=redis)
        try:
            name = f"{socket.gethostname()}:{os.getpid()}"
            worker = QueueWorker(warmup_for(redis, adapter, settings), adapter.exchange_id, name)
            announce(f"worker {name}: {adapter.name} (exchange {adapter.exchange_id}), waiting for a warmup's entries")
            await worker.run(stop)
            return worker
        finally:
            await adapter.close()


@dataclass(frozen=True)
class ServeOptions:
    """What `livermore serve` was asked for beyond Settings: the exchange (at `base_url` and under
    `exchange_id` when given), the timeframes, and the warmup's start."""

    exchange: str
    timeframes: list[Timeframe]
    base_url: str | None = None
    exchange_id: int | None = None
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


async def seed_symbols(context: ExchangeContext, adapter: ExchangeAdapter, options: ServeOptions) -> list[str]:
    """Fill the monitored set from --symbols or --top only when it is empty; refuses (UsageError)
    symbols the exchange does not list, before anything is stored."""
    symbols = context.symbols
    if options.seed_symbols:
        wanted, unknown = await context.catalog.split(normalize_symbol(s) for s in options.seed_symbols)
        if unknown:
            raise UsageError(f"unknown symbols on {adapter.name}: {', '.join(unknown)}")
    elif options.seed_top:
        wanted = await adapter.top_symbols(options.seed_top, options.quote)
    else:
        wanted = []
    if await symbols.seed(wanted):
        log.info("monitoring %d symbols: %s", len(wanted), ", ".join(wanted))
    return await symbols.all()


def http_policy(settings: Settings) -> HttpPolicy:
    """What the admin app refuses. Its streams need the token unless it binds loopback only."""
    host = settings.admin_host
    return HttpPolicy(
        max_body_bytes=settings.admin_max_body_bytes,
        allowed_hosts=frozenset(h.lower() for h in [*settings.admin_allowed_hosts, host]),
        max_streams=settings.admin_max_streams,
        streams_need_token=not (host == "localhost" or _is_loopback_address(host)),
    )


def _is_loopback_address(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address
        return False


@dataclass(frozen=True)
class Service:
    """One exchange's serving parts, wired once; the tests assemble the very same."""

    runner: WarmupRunner
    handlers: CommandHandlers
    channel: ControlChannel
    app: FastAPI
    closing: asyncio.Event  # ends the admin app's event streams


def assemble(
    redis: RedisClient,
    adapter: ExchangeAdapter,
    settings: Settings,
    timeframes: Sequence[Timeframe],
    token: str,
    presence: InstancePresence | None = None,
) -> Service:
    """Wire one exchange's serving parts from Settings; `presence`: the registered instance's status
    key, which `stop` and `start` move."""
    exchange_id = adapter.exchange_id
    metrics = WarmupMetrics(adapter)
    warmup = warmup_for(redis, adapter, settings)
    runner = WarmupRunner(warmup, exchange_id, metrics.observe)
    symbols = MonitoredSymbols(redis, exchange_id)
    context = ExchangeContext(exchange_id, list(timeframes), symbols, warmup.catalog, presence)
    handlers = CommandHandlers(context, runner)
    closing = asyncio.Event()
    app = create_app(AdminDeps(handlers, metrics, token, adapter.name, http_policy(settings), closing=closing))
    return Service(runner, handlers, ControlChannel(redis, handlers, settings.command_sub), app, closing)


async def serve(
    settings: Settings,
    options: ServeOptions,
    stop: asyncio.Event,
    announce: Callable[[str], None],
) -> None:
    """Run until `stop` is set, then cancel any warmup, stop the web server and the listener."""
    async with redis_client(settings.redis_url) as redis:
        await ping_every_master(redis)  # fail at boot, not at the first key on a dead master
        adapter = adapter_for(
            settings, options.exchange, base_url=options.base_url, exchange_id=options.exchange_id, redis=redis
        )
        try:
            async with presence_for(redis, adapter, settings) as presence:
                await _serve(redis, settings, adapter, options, stop, announce, presence)
        finally:
            await adapter.close()


async def _serve(
    redis: RedisClient,
    settings: Settings,
    adapter: ExchangeAdapter,
    options: ServeOptions,
    stop: asyncio.Event,
    announce: Callable[[str], None],
    presence: InstancePresence,
) -> None:
    """Serve as the registered instance: `starting` until the channel and the web app answer, then
    `warming` with --autostart (its run's end makes it `active`) or `active`; `stopping` on the way out."""
    token = settings.admin_token or secrets.token_urlsafe(24)
    service = assemble(redis, adapter, settings, options.timeframes, token, presence)
    monitored = await seed_symbols(service.handlers.ctx, adapter, options)
    if not settings.admin_token:
        announce(f"admin token (generated, shown once): {token}")
    host, port = settings.admin_host, settings.admin_port
    config = uvicorn.Config(
        service.app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
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
            raise UsageError(f"the admin server could not listen on {host}:{port} (taken? try --port)")
        announce(
            f"serving {adapter.name} (exchange {adapter.exchange_id}, {len(monitored)} symbols) on "
            f"http://{host}:{port}/ and livermore:commands:{settings.command_sub}"
        )
        if options.autostart:
            await _autostart(service.handlers)
        await _settle(presence, service.runner)
        done, _ = await asyncio.wait({listening, serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a listener or web server that died takes the service down, loudly
    finally:
        announce("shutting down")
        with contextlib.suppress(Exception):  # the key is best effort; the shutdown below is not
            if not presence.halted:
                await presence.set_state("stopping")
        await service.runner.stop()  # viewers still get the final (cancelled) stats
        service.closing.set()
        web.should_exit = True
        for task in (listening, stopping):
            task.cancel()
        await asyncio.gather(serving, listening, stopping, return_exceptions=True)


async def _settle(presence: InstancePresence, runner: WarmupRunner) -> None:
    """Serving now: `warming` while the autostarted run goes (its end, followed from its stats,
    makes the instance `active`), else `active`; unless the run's events already moved it on."""
    if presence.status.connection_state == "starting":
        await presence.set_state("warming" if runner.running else "active")


async def _autostart(handlers: CommandHandlers) -> None:
    """`start` at boot through the same handler as the channel; a refusal is logged, not fatal."""
    try:
        await handlers.dispatch("start", None)
    except CommandError as e:
        log.warning("autostart refused: %s", e)
    else:
        log.info("autostart: warmup started")
