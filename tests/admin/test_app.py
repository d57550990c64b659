"""The admin HTTP API, in-process (ASGITransport) and, for server-sent events, over a real socket."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import orjson
import pytest
import uvicorn
from redis.asyncio import Redis
from starlette.types import ASGIApp

from livermore.keys import warmup_stats_key
from livermore.models import Timeframe
from livermore.warmup import WarmupStats
from livermore.warmup.store import WarmupStore
from livermore.warmup.symbols import MonitoredSymbols
from tests.support.candles import clear_of_interval_end
from tests.support.control_world import TIMEFRAMES, TOKEN, World

AUTH = {"Authorization": f"Bearer {TOKEN}"}
PAIRS = 3 * len(TIMEFRAMES)


@pytest.fixture
async def http(world: World) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=world.service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as client:
        yield client


def api(world: World, suffix: str) -> str:
    return f"/api/exchanges/{world.exchange_id}{suffix}"


async def finished_stats(redis: Redis, exchange_id: int) -> WarmupStats:
    """Stats once the run has ended (polls the key the run writes last)."""
    store = WarmupStore(redis)
    async with asyncio.timeout(30):
        while (stats := await store.load_stats(exchange_id)) is None or stats.status not in ("complete", "error"):
            await asyncio.sleep(0.02)
    return stats


async def test_mutations_need_the_bearer_token(http: httpx.AsyncClient, world: World) -> None:
    for method, suffix, body in [
        ("POST", "/warmup/start", None),
        ("POST", "/warmup/cancel", None),
        ("POST", "/backfill", {"symbol": world.symbols[0]}),
        ("POST", "/symbols", {"symbols": world.spare[:1]}),
        ("DELETE", f"/symbols/{world.symbols[0]}", None),
        ("POST", "/cache/clear", {"scope": "all"}),
    ]:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            res = await http.request(method, api(world, suffix), json=body, headers=headers)
            assert res.status_code == 401, (method, suffix, headers)
            assert res.headers["www-authenticate"] == "Bearer"
    assert not world.service.runner.running
    assert await world.service.handlers.ctx.symbols.all() == world.symbols


async def test_reads_before_any_run(http: httpx.AsyncClient, world: World) -> None:
    info = (await http.get("/api/info")).json()
    assert info == {
        "exchangeId": world.exchange_id,
        "exchange": "binance",
        "timeframes": ["1h", "5m"],
        "symbols": world.symbols,
        "running": False,
    }
    assert (await http.get(api(world, "/warmup/stats"))).status_code == 404
    assert (await http.get(api(world, "/warmup/schedule"))).status_code == 404
    meter = (await http.get(api(world, "/candles/meter"))).json()
    assert len(meter["cells"]) == PAIRS
    assert all(c["newestOpenTime"] is None and c["ageIntervals"] is None for c in meter["cells"])
    assert (await http.get("/api/exchanges/999/warmup/stats")).status_code == 404


async def test_start_over_http_warms_everything_and_feeds_stats_schedule_meter_and_metrics(
    http: httpx.AsyncClient, world: World, redis: Redis
) -> None:
    await clear_of_interval_end(Timeframe.M5, 10)  # the meter calls a 5m candle that closed since `partial`
    res = await http.post(api(world, "/warmup/start"), headers=AUTH)
    assert res.status_code == 202
    started = res.json()
    assert (started["status"], started["exchange"], started["symbolCount"]) == ("started", "binance", 3)
    assert (started["exchangeId"], started["timeframes"]) == (world.exchange_id, ["1h", "5m"])

    stats = await finished_stats(redis, world.exchange_id)
    assert (stats.status, stats.completed_pairs, stats.percent_complete) == ("complete", PAIRS, 100)
    assert (await http.get(api(world, "/warmup/stats"))).json()["status"] == "complete"

    schedule = (await http.get(api(world, "/warmup/schedule"))).json()
    assert (schedule["totalPairs"], schedule["needsFetching"], len(schedule["entries"])) == (PAIRS, PAIRS, PAIRS)

    meter = (await http.get(api(world, "/candles/meter"))).json()
    assert meter["symbols"] == world.symbols and meter["timeframes"] == ["1h", "5m"]
    assert all(c["sufficient"] and 0 <= c["ageIntervals"] < 2 for c in meter["cells"])

    metrics = (await http.get("/metrics")).text
    assert 'livermore_warmup_runs_total{outcome="complete"} 1.0' in metrics
    assert f'livermore_warmup_pairs_total{{outcome="completed"}} {float(PAIRS)}' in metrics
    assert "livermore_warmup_duration_seconds_count 1.0" in metrics
    for name in ("rest_requests", "rest_weight_used", "rest_throttled", "rest_banned"):
        assert f'livermore_{name}_total{{exchange="binance"}}' in metrics


async def test_second_start_conflicts(http: httpx.AsyncClient, world: World, redis: Redis) -> None:
    world.sim.simulator.set_faults(latency_ms=(100.0, 100.0))
    assert (await http.post(api(world, "/warmup/start"), headers=AUTH)).status_code == 202
    again = await http.post(api(world, "/warmup/start"), headers=AUTH)  # the original's reply: not an error
    assert again.json()["status"] == "already_started" and "already running" in again.json()["message"]
    assert (await http.post(api(world, "/warmup/cancel"), headers=AUTH)).status_code == 200
    stats = await finished_stats(redis, world.exchange_id)
    assert (stats.status, stats.outcome) == ("error", "cancelled")
    await world.service.runner.wait()  # its final stats are written before its lease is let go
    assert (await http.post(api(world, "/warmup/cancel"), headers=AUTH)).status_code == 409


async def backfilled(world: World) -> WarmupStats:
    """The final stats of the backfill an endpoint accepted (the runner's job; a backfill writes no stats key)."""
    stats = await world.service.runner.wait()
    assert stats is not None and stats.mode == "backfill"
    return stats


async def test_backfill_and_symbol_management(http: httpx.AsyncClient, world: World, redis: Redis) -> None:
    res = await http.post(
        api(world, "/backfill"), json={"symbol": world.symbols[0], "timeframes": ["5m"]}, headers=AUTH
    )
    accepted = res.json()
    assert res.status_code == 202  # accepted: it goes on in the background
    assert (accepted["symbol"], accepted["timeframes"], accepted["backfilling"]) == (world.symbols[0], ["5m"], True)
    assert (await backfilled(world)).completed_pairs == 1

    res = await http.post(api(world, "/symbols"), json={"symbols": [world.spare[0], "NOPEUSDT"]}, headers=AUTH)
    assert res.status_code == 202
    assert (res.json()["added"], res.json()["skipped"], res.json()["backfilling"]) == (1, 1, True)
    assert (res.json()["symbols"], res.json()["unknown"]) == ([world.spare[0]], ["NOPEUSDT"])
    assert (await backfilled(world)).completed_pairs == len(TIMEFRAMES)
    assert world.spare[0] in (await http.get(api(world, "/symbols"))).json()
    assert len((await http.get("/api/info")).json()["symbols"]) == len(world.symbols) + 1  # the header's count

    res = await http.post(api(world, "/symbols"), json={"symbols": ["NOPEUSDT"]}, headers=AUTH)
    assert res.status_code == 400 and "NOPEUSDT" in res.json()["detail"]
    res = await http.post(api(world, "/backfill"), json={"symbol": "NOPEUSDT"}, headers=AUTH)
    assert res.status_code == 400 and "unknown symbol" in res.json()["detail"]
    res = await http.post(api(world, "/backfill"), json={"timeframes": ["1h"]}, headers=AUTH)
    assert res.status_code == 422

    assert (await http.delete(api(world, f"/symbols/{world.spare[0]}"), headers=AUTH)).status_code == 200
    gone = await http.delete(api(world, f"/symbols/{world.spare[0]}"), headers=AUTH)
    assert gone.json()["status"] == "not_found"
    assert await MonitoredSymbols(redis, world.exchange_id).all() == world.symbols

    res = await http.post(
        api(world, "/cache/clear"), json={"scope": "symbol", "symbol": world.symbols[0]}, headers=AUTH
    )
    cleared = res.json()
    assert (cleared["cleared"], cleared["scope"], cleared["symbol"]) == (True, "symbol", world.symbols[0])
    assert (cleared["timeframe"], cleared["deletedCount"]) == (None, 1)


async def test_a_backfill_and_a_warmup_refuse_each_other_with_409(
    http: httpx.AsyncClient, world: World, redis: Redis
) -> None:
    world.sim.simulator.set_faults(latency_ms=(300.0, 300.0))
    assert (await http.post(api(world, "/symbols"), json={"symbols": world.spare}, headers=AUTH)).status_code == 202
    start = await http.post(api(world, "/warmup/start"), headers=AUTH)
    assert start.status_code == 409 and f"a backfill of {', '.join(world.spare)}" in start.json()["detail"]
    assert (await http.post(api(world, "/warmup/cancel"), headers=AUTH)).json()["job"] == "backfill"
    assert (await backfilled(world)).outcome == "cancelled"

    await http.post(api(world, "/warmup/start"), headers=AUTH)
    res = await http.post(api(world, "/backfill"), json={"symbol": world.symbols[0]}, headers=AUTH)
    assert res.status_code == 409 and "a warmup of exchange" in res.json()["detail"]
    assert (await http.post(api(world, "/warmup/cancel"), headers=AUTH)).json()["job"] == "warmup"
    assert (await finished_stats(redis, world.exchange_id)).outcome == "cancelled"


async def test_openapi_documents_the_api(http: httpx.AsyncClient) -> None:
    assert (await http.get("/docs")).status_code == 200
    paths = (await http.get("/openapi.json")).json()["paths"]
    for path in (
        "/warmup/stats",
        "/warmup/schedule",
        "/warmup/events",
        "/candles/meter",
        "/warmup/start",
        "/backfill",
        "/symbols",
    ):
        assert f"/api/exchanges/{{exchange_id}}{path}" in paths
    page = await http.get("/")
    assert page.status_code == 200 and "Livermore" in page.text


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """`app` behind a real uvicorn on a free loopback port (server-sent events need a socket: the
    ASGI transport waits for a response's end); yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def sse_events(response: httpx.Response) -> AsyncIterator[dict]:
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            yield orjson.loads(line[5:].strip())


async def test_events_stream_sends_current_stats_then_every_update(world: World, redis: Redis) -> None:
    earlier = {"exchangeId": world.exchange_id, "status": "complete", "percentComplete": 100, "marker": "earlier run"}
    await redis.set(warmup_stats_key(world.exchange_id), orjson.dumps(earlier))
    async with (
        serving(world.service.app) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
        client.stream("GET", api(world, "/warmup/events")) as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = sse_events(stream)
        assert await anext(events) == earlier
        assert (await client.post(api(world, "/warmup/start"), headers=AUTH)).status_code == 202
        seen = []
        async for stats in events:
            seen.append(stats)
            if stats["status"] in ("complete", "error"):
                break
    assert seen[0]["status"] == "scanning"
    assert "fetching" in {s["status"] for s in seen}
    assert (seen[-1]["status"], seen[-1]["percentComplete"], seen[-1]["completedPairs"]) == ("complete", 100, PAIRS)
