"""Operations endpoints: /docs without a CDN, /healthz against a Redis that goes away, live /metrics gauges."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from livermore.embedded import RedisClusterServers, RedisServer
from livermore.keys import (
    instance_lease_key,
    instance_status_key,
    warmup_lock_key,
    warmup_stats_key,
    warmup_workers_key,
)
from livermore.models import Timeframe
from livermore.service import redis_client
from livermore.warmup.store import WarmupStore
from tests.admin.test_app import AUTH, PAIRS, api, finished_stats
from tests.support.candles import clear_of_interval_end
from tests.support.control_world import World, served_world


def client(world: World) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=world.service.app), base_url="http://admin")


@pytest.fixture
async def http(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with client(world) as c:
        yield c


async def test_docs_serve_swagger_from_local_assets(http: httpx.AsyncClient) -> None:
    page = await http.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        assert "cdn." not in asset and not asset.startswith(("http:", "https:", "//")), asset
        res = await http.get(asset)
        assert res.status_code == 200 and len(res.content) > 100, asset
    assert "cdn." not in page.text and "https://" not in page.text
    assert (await http.get("/openapi.json")).json()["info"]["title"] == "Livermore admin"


async def test_healthz_answers_200_with_redis_and_503_once_it_is_gone() -> None:
    with RedisServer() as private:  # never the shared server: this test stops it
        redis = Redis.from_url(private.url)
        try:
            async with served_world(redis, private.url) as world, client(world) as http:
                res = await http.get("/healthz")
                assert res.status_code == 200
                body = res.json()
                assert (body["redis"], body["running"], body["warmup"]) == ("ok", False, None)
                assert body["lease"] == {"held": False}
                assert body["instance"] is None  # this world is not the registered instance
                assert (body["exchangeId"], body["exchange"]) == (world.exchange_id, "binance")

                private.stop()
                res = await http.get("/healthz")
                assert res.status_code == 503
                assert (res.json()["redis"], res.json()["running"]) == ("error", False)
                assert res.json()["error"]
                assert (await http.get("/metrics")).status_code == 200  # last-known figures, no 500
        finally:
            await redis.aclose()


async def test_healthz_answers_503_when_a_cluster_master_that_holds_none_of_its_keys_is_gone() -> None:
    """A cluster is healthy only with every master up: a dead one holds a share of the candle keys
    even when the few keys /healthz reads live elsewhere."""
    with RedisClusterServers() as private:  # never the session's cluster: this test stops a node
        async with redis_client(private.url) as redis, served_world(redis, private.url) as world, client(world) as http:
            assert (await http.get("/healthz")).status_code == 200
            eid = world.exchange_id
            read = [warmup_lock_key(eid), instance_status_key(eid), instance_lease_key(eid), warmup_stats_key(eid)]
            read.append(warmup_workers_key(eid))
            ports = {redis.get_node_from_key(key).port for key in read}
            spare = [node for node in private.nodes if node.port not in ports]
            assert spare, "every master holds a key /healthz reads: nothing to tell apart"
            spare[0].stop()
            res = await http.get("/healthz")
            assert res.status_code == 503 and res.json()["redis"] == "error"


async def test_healthz_says_the_instance_state_and_its_heartbeat(redis: Redis, redis_server: RedisServer) -> None:
    async with served_world(redis, redis_server.url, registered=True) as world, client(world) as http:
        presence = world.service.handlers.ctx.presence
        assert presence is not None
        await presence.set_state("active")
        instance = (await http.get("/healthz")).json()["instance"]
        assert instance["connectionState"] == "active" and instance["hostname"] == presence.identity.hostname
        assert instance["lastHeartbeat"] == presence.status.last_heartbeat and 0 < instance["ttlS"] <= 45
        await presence.halt()
        assert (await http.get("/healthz")).json()["instance"]["connectionState"] == "stopped"


def gauge(text: str, name: str) -> float:
    found = re.search(rf'^{name}{{exchange="binance"}} (\S+)$', text, re.MULTILINE)
    assert found, f"{name} missing"
    return float(found.group(1))


async def test_metrics_gauges_after_a_run(http: httpx.AsyncClient, world: World, redis: Redis) -> None:
    before = (await http.get("/metrics")).text
    assert gauge(before, "livermore_warmup_running") == 0
    assert gauge(before, "livermore_cache_stale_pairs") == PAIRS  # nothing cached yet: every pair is stale
    assert "livermore_warmup_last_success_timestamp_seconds{" not in before  # no run yet: no sample

    await clear_of_interval_end(Timeframe.M5, 10)
    assert (await http.post(api(world, "/warmup/start"), headers=AUTH)).status_code == 202
    stats = await finished_stats(redis, world.exchange_id)
    assert stats.outcome == "complete"
    await http.get(api(world, "/candles/meter"))  # the meter's scan feeds the stale-pairs gauge

    text = (await http.get("/metrics")).text
    assert gauge(text, "livermore_warmup_running") == 0
    assert gauge(text, "livermore_warmup_percent") == 100
    assert gauge(text, "livermore_warmup_pairs_left") == 0
    assert gauge(text, "livermore_warmup_last_success_timestamp_seconds") == stats.updated_at / 1000
    assert gauge(text, "livermore_cache_stale_pairs") == 0
    assert gauge(text, "livermore_cache_scanned_pairs") == PAIRS
    limit, budget = gauge(text, "livermore_rate_limit_limit"), gauge(text, "livermore_rate_limit_budget")
    assert 0 < budget <= limit
    assert 0 <= gauge(text, "livermore_rate_limit_used") <= limit
    assert gauge(text, "livermore_rate_limit_window_seconds") > 0


async def test_schedule_entries_carry_their_state(http: httpx.AsyncClient, world: World, redis: Redis) -> None:
    await clear_of_interval_end(Timeframe.M5, 10)
    assert (await http.post(api(world, "/warmup/start"), headers=AUTH)).status_code == 202
    await finished_stats(redis, world.exchange_id)
    entries = (await http.get(api(world, "/warmup/schedule"))).json()["entries"]
    assert len(entries) == PAIRS and {e["state"] for e in entries} == {"done"}


async def test_schedule_states_of_a_cancelled_run_come_from_the_cache(
    http: httpx.AsyncClient, world: World, redis: Redis
) -> None:
    """A run cancelled part-way (healthz and the gauges see it running): what it fetched is done (a
    fresh scan says so), the rest pending."""
    await clear_of_interval_end(Timeframe.M5, 10)
    world.sim.simulator.set_faults(latency_ms=(100.0, 100.0))
    assert (await http.post(api(world, "/warmup/start"), headers=AUTH)).status_code == 202
    store = WarmupStore(redis)
    async with asyncio.timeout(30):  # cancel once the schedule is built, while it is being fetched
        while (s := await store.load_stats(world.exchange_id)) is None or s.status == "scanning":
            await asyncio.sleep(0.01)
    health = (await http.get("/healthz")).json()
    assert (health["running"], health["lease"]["held"]) == (True, True)
    assert health["warmup"]["status"] in ("fetching", "touching_up")
    text = (await http.get("/metrics")).text
    assert gauge(text, "livermore_warmup_running") == 1 and gauge(text, "livermore_warmup_pairs_left") > 0
    assert (await http.post(api(world, "/warmup/cancel"), headers=AUTH)).status_code == 200
    stats = await finished_stats(redis, world.exchange_id)
    assert stats.outcome == "cancelled"
    schedule = (await http.get(api(world, "/warmup/schedule"))).json()
    states = [e["state"] for e in schedule["entries"]]
    assert set(states) <= {"done", "pending", "failed"}
    assert states.count("done") == stats.completed_pairs
    assert states.count("pending") == len(states) - stats.completed_pairs - stats.failed_pairs
