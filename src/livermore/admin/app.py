"""The admin web app: read endpoints, live SSE progress, Prometheus, and mutations that go through
the control channel's command handlers (one code path), behind a bearer token.

No `from __future__ import annotations` here: FastAPI resolves the route annotations at runtime,
and some name closure-local dependencies."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPBearer
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from livermore.admin.events import POLL_S, EventHub, Stream, StreamsFull
from livermore.admin.guard import CHALLENGE, UNAUTHORIZED, RequestGuard, bearer_token, refusal, token_matches
from livermore.admin.metrics import LiveState, WarmupMetrics
from livermore.connection import RedisClient, ping_every_master
from livermore.control.handlers import Accepted, CommandHandlers
from livermore.control.payloads import BulkSymbolsPayload, ClearCachePayload, ForceBackfillPayload, StartPayload
from livermore.errors import CommandConflict, CommandError
from livermore.keys import warmup_lock_key
from livermore.models import CamelModel, now_ms
from livermore.warmup import WarmupStats
from livermore.warmup.instance import instance_health
from livermore.warmup.lock import lease_holder
from livermore.warmup.scan import CandleStatusResult
from livermore.warmup.schedule import WarmupSchedule

STATIC_DIR = resources.files("livermore.admin").joinpath("static")
# Swagger UI's assets from the fastapi-offline package: /docs works without a CDN (offline, air-gapped).
DOCS_ASSETS = resources.files("fastapi_offline").joinpath("static")
REDIS_PROBE_S = 2.0  # /healthz and /metrics answer within this even when Redis hangs
SCRAPE_SCAN_EVERY_S = 60  # a scrape rescans the cache for the stale-pairs gauge when no meter scan is newer
RETRY_AFTER_S = 5  # a 503's Retry-After: Redis away, or every event stream taken
REDIS_DOWN = (RedisError, OSError, TimeoutError)  # what a Redis call raises while Redis is away

Data = dict[str, Any]
StreamToken = Annotated[
    str | None, Query(description="the admin token, needed beyond loopback (an EventSource sends no headers)")
]


@dataclass(frozen=True)
class HttpPolicy:
    """What the app refuses before any route runs: bodies over `max_body_bytes`, a Host header not
    in `allowed_hosts` (lower-case; "*": any), event streams beyond `max_streams`, and, when
    `streams_need_token` (the server binds beyond loopback), streams without the token."""

    max_body_bytes: int
    allowed_hosts: frozenset[str]
    max_streams: int
    streams_need_token: bool


@dataclass(frozen=True)
class AdminDeps:
    """Everything the app reads or drives, passed in explicitly."""

    handlers: CommandHandlers
    metrics: WarmupMetrics
    token: str
    exchange_name: str
    http: HttpPolicy
    clock: Callable[[], int] = now_ms
    closing: asyncio.Event = field(default_factory=asyncio.Event)  # set at shutdown: event streams end


def create_app(deps: AdminDeps) -> FastAPI:
    app = FastAPI(
        title="Livermore admin",
        summary="Warmup progress, candle meter and commands for one exchange's candle cache.",
        version="1",
        docs_url=None,
        redoc_url=None,
    )
    ctx = deps.handlers.ctx
    warmup = deps.handlers.warmup
    authorized = _bearer_scheme()
    policy = deps.http
    hub = EventHub(warmup.store, ctx.exchange_id, max_streams=policy.max_streams)
    app.add_middleware(
        RequestGuard, token=deps.token, max_body_bytes=policy.max_body_bytes, allowed_hosts=policy.allowed_hosts
    )
    for error in REDIS_DOWN:
        app.add_exception_handler(error, _redis_down)
    app.add_exception_handler(StreamsFull, _streams_full)

    def served(exchange_id: int) -> int:
        if exchange_id != ctx.exchange_id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"exchange {exchange_id} is not served here")
        return exchange_id

    Served = Annotated[int, Depends(served)]

    async def command(command_type: str, payload: Data | None = None) -> Data:
        try:
            result = await deps.handlers.dispatch(command_type, payload)
        except CommandConflict as e:
            raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from None
        except CommandError as e:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(e)) from None
        return result.data if isinstance(result, Accepted) else result

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(str(STATIC_DIR.joinpath("index.html")))

    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.mount("/docs-assets", StaticFiles(directory=str(DOCS_ASSETS)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} · API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )

    async def scan_monitored(exchange_id: int, symbols: list[str]) -> list[CandleStatusResult]:
        """The meter's scan of every monitored pair; its stale count feeds the metrics."""
        results = await warmup.scan(exchange_id, symbols, ctx.timeframes)
        deps.metrics.live.saw_scan(sum(not r.sufficient for r in results), len(results))
        return results

    async def entry_states(schedule: WarmupSchedule, stats: WarmupStats | None) -> list[str]:
        """Each entry's state, from the run's stats and (unless the run completed) a scan of the
        entries' pairs: failed (in the failures), running (the current pair), done (sufficient now,
        or the run completed), else pending."""
        if stats is not None and stats.started_at > schedule.created_at:  # a run that has not built its own yet
            stats = None
        failed = {(f.symbol, f.timeframe) for f in stats.failures} if stats else set()
        current = (stats.current_symbol, stats.current_timeframe) if stats and stats.running else None
        completed = stats is not None and stats.outcome == "complete"
        sufficient: set[tuple[str, str]] = set()
        if not completed and schedule.entries:
            symbols = list(dict.fromkeys(e.symbol for e in schedule.entries))
            timeframes = list(dict.fromkeys(e.timeframe for e in schedule.entries))
            scanned = await warmup.scan(schedule.exchange_id, symbols, timeframes)
            sufficient = {(r.symbol, r.timeframe.value) for r in scanned if r.sufficient}

        def state(pair: tuple[str, str]) -> str:
            if pair in failed:
                return "failed"
            if pair == current:
                return "running"
            return "done" if completed or pair in sufficient else "pending"

        return [state((e.symbol, e.timeframe.value)) for e in schedule.entries]

    @app.get("/api/info", tags=["read"])
    async def info() -> Data:
        return {
            "exchangeId": ctx.exchange_id,
            "exchange": deps.exchange_name,
            "timeframes": [tf.value for tf in ctx.timeframes],
            "symbols": await ctx.symbols.all(),
            "running": deps.handlers.runner.running,
        }

    @app.get("/api/exchanges/{exchange_id}/warmup/stats", tags=["read"])
    async def stats(exchange_id: Served) -> Data:
        return _document(await warmup.store.load_stats(exchange_id), "no warmup has run yet")

    @app.get("/api/exchanges/{exchange_id}/warmup/schedule", tags=["read"])
    async def schedule(exchange_id: Served) -> Data:
        """The newest schedule, each entry with its `state`: pending, running, done or failed."""
        found = await warmup.store.load_schedule(exchange_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no schedule has been built yet")
        doc = found.to_dict()
        states = await entry_states(found, await warmup.store.load_stats(exchange_id))
        for entry, state in zip(doc["entries"], states, strict=True):
            entry["state"] = state
        return doc

    @app.get("/api/exchanges/{exchange_id}/candles/meter", tags=["read"])
    async def meter(exchange_id: Served) -> Data:
        """Newest open time of every monitored symbol x timeframe, its age and age / interval."""
        symbols = await ctx.symbols.all()
        results = await scan_monitored(exchange_id, symbols)
        now = deps.clock()
        cells = [
            {
                "symbol": r.symbol,
                "timeframe": r.timeframe.value,
                "cachedCount": r.cached_count,
                "newestOpenTime": r.newest_open_time,
                "ageMs": None if r.newest_open_time is None else now - r.newest_open_time,
                "ageIntervals": None
                if r.newest_open_time is None
                else round((now - r.newest_open_time) / r.timeframe.ms, 3),
                "sufficient": r.sufficient,
                "reason": r.reason,
            }
            for r in results
        ]
        return {"now": now, "symbols": symbols, "timeframes": [tf.value for tf in ctx.timeframes], "cells": cells}

    @app.get("/api/exchanges/{exchange_id}/symbols", tags=["read"])
    async def symbols(exchange_id: Served) -> list[str]:
        return await ctx.symbols.all()

    async def open_stream(exchange_id: Served, request: Request, token: StreamToken = None) -> AsyncIterator[Stream]:
        """A stream from the hub; beyond loopback only with the token (query or bearer header)."""
        given = token or bearer_token(request.headers.get("authorization"))
        if policy.streams_need_token and not token_matches(given, deps.token):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, UNAUTHORIZED, headers=CHALLENGE)
        async with hub.stream() as stream:
            yield stream

    OpenStream = Annotated[Stream, Depends(open_stream, scope="request")]  # open until the response ends

    @app.get("/api/exchanges/{exchange_id}/warmup/events", response_class=EventSourceResponse, tags=["read"])
    async def events(stream: OpenStream) -> AsyncIterator[ServerSentEvent]:
        """Stats JSON as server-sent events: the current stats first, then every update. 503 with
        Retry-After when every stream the server allows is taken."""
        while not deps.closing.is_set():
            if (event := await stream.next(POLL_S)) is not None:
                yield ServerSentEvent(raw_data=event.decode())

    @app.post(
        "/api/exchanges/{exchange_id}/warmup/start", status_code=202, tags=["commands"], dependencies=[authorized]
    )
    async def start(exchange_id: Served, body: Annotated[StartPayload | None, Body()] = None) -> Data:
        """Start a smart warmup of the monitored symbols; follow it on /warmup/events."""
        return await command("start", _dump(body))

    @app.post("/api/exchanges/{exchange_id}/warmup/cancel", tags=["commands"], dependencies=[authorized])
    async def cancel(exchange_id: Served) -> Data:
        return await command("cancel")

    @app.post("/api/exchanges/{exchange_id}/backfill", status_code=202, tags=["commands"], dependencies=[authorized])
    async def backfill(exchange_id: Served, body: ForceBackfillPayload) -> Data:
        """Start the backfill of one symbol (409 while a warmup or another backfill runs)."""
        return await command("force-backfill", _dump(body))

    @app.post("/api/exchanges/{exchange_id}/symbols", status_code=202, tags=["commands"], dependencies=[authorized])
    async def add_symbols(exchange_id: Served, body: BulkSymbolsPayload) -> Data:
        """Validate against the exchange's list, monitor, and start the backfill of the known ones
        (409, nothing added, while a warmup or another backfill runs)."""
        return await command("bulk-add-symbols", _dump(body))

    @app.delete("/api/exchanges/{exchange_id}/symbols/{symbol}", tags=["commands"], dependencies=[authorized])
    async def remove_symbol(exchange_id: Served, symbol: str) -> Data:
        return await command("remove-symbol", {"symbol": symbol})

    @app.post("/api/exchanges/{exchange_id}/cache/clear", tags=["commands"], dependencies=[authorized])
    async def clear_cache(exchange_id: Served, body: ClearCachePayload) -> Data:
        return await command("clear-cache", _dump(body))

    @app.get("/healthz", tags=["read"])
    async def healthz() -> JSONResponse:
        """200 when Redis answers, every master of a cluster (with the run, the warmup lease, the
        instance's state and heartbeat, and the newest stats), 503 when it does not. No token: probes
        and load balancers call it."""
        body: Data = {"exchangeId": ctx.exchange_id, "exchange": deps.exchange_name}
        body["running"] = deps.handlers.runner.running
        try:
            async with asyncio.timeout(REDIS_PROBE_S):
                await ping_every_master(warmup.redis)  # the keys read below live on one or two of them
                lease = await _lease_state(warmup.redis, ctx.exchange_id)
                instance = await instance_health(warmup.redis, ctx.exchange_id)
                stats = await warmup.store.load_stats(ctx.exchange_id)
        except REDIS_DOWN as e:
            return JSONResponse({**body, "redis": "error", "error": str(e) or type(e).__name__}, status_code=503)
        newest = stats and {"status": stats.status, "outcome": stats.outcome, "updatedAt": stats.updated_at}
        return JSONResponse({**body, "redis": "ok", "lease": lease, "instance": instance, "warmup": newest})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Live gauges from state refreshed here (collect() cannot wait on Redis), then the registry."""
        live = deps.metrics.live
        try:
            async with asyncio.timeout(REDIS_PROBE_S):
                await refresh_live(live)
        except REDIS_DOWN:
            pass  # Redis away: the last-known figures (healthz says why)
        return Response(generate_latest(deps.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def refresh_live(live: LiveState) -> None:
        live.saw_stats(await warmup.store.load_stats(ctx.exchange_id))
        live.running = deps.handlers.runner.running or await warmup.is_running(ctx.exchange_id)
        if live.scanned_at_s is None or time.time() - live.scanned_at_s > SCRAPE_SCAN_EVERY_S:
            await scan_monitored(ctx.exchange_id, await ctx.symbols.all())

    return app


async def _lease_state(redis: RedisClient, exchange_id: int) -> Data:
    """Who holds this exchange's warmup lease (any process) and how long it has left."""
    key = warmup_lock_key(exchange_id)
    holder = await lease_holder(redis, key)
    if holder is None:
        return {"held": False}
    return {"held": True, "holder": holder.describe(), "ttlMs": await redis.pttl(key)}


def _document(found: CamelModel | None, missing: str) -> Data:
    """A stored document's JSON, or 404 saying why there is none yet."""
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, missing)
    return found.to_dict()


def _dump(body: Any) -> Data | None:
    return None if body is None else body.model_dump(mode="json", exclude_none=True)


def _bearer_scheme() -> Any:
    """The bearer token in the OpenAPI document of each mutation. RequestGuard checks it, for every
    method but GET and HEAD under /api/, before the body is read (a dependency runs only after)."""
    return Depends(HTTPBearer(auto_error=False, description="the admin token printed by `livermore serve`"))


def _unavailable(detail: str) -> JSONResponse:
    """503 JSON with Retry-After: what is missing comes back (Redis) or frees up (a stream)."""
    return refusal(status.HTTP_503_SERVICE_UNAVAILABLE, detail, {"Retry-After": str(RETRY_AFTER_S)})


async def _redis_down(request: Request, error: Exception) -> JSONResponse:
    """Redis away: one JSON line, never a plain-text 500 and its traceback."""
    return _unavailable(f"Redis is unavailable: {error or type(error).__name__}")


async def _streams_full(request: Request, error: Exception) -> JSONResponse:
    return _unavailable(str(error))
