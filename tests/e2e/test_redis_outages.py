"""Redis going away under `serve` and `warmup` (SIGKILL, restart from the AOF): the processes stay
up or end truthfully, the runs wait for Redis and resume, and nothing prints a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from asyncio.subprocess import PIPE

import orjson
import pytest
import redis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError

from livermore.connection import RedisClient, is_cluster, ping_every_master
from livermore.embedded import RedisClusterServers, RedisServer, free_port
from livermore.keys import warmup_queue_key
from livermore.service import redis_client
from livermore.simulator import SimulatorConfig, serve_simulator
from livermore.warmup.stats import WarmupStats
from livermore.warmup.store import WarmupStore
from tests.support.candles import TF, cache_of, duplicate_scores, series
from tests.support.processes import livermore, reaped, terminated

BINANCE = 2


async def test_serve_outlives_a_redis_restart_mid_warmup_which_then_completes() -> None:
    """Redis SIGKILLed and restarted from its AOF while `serve` warms: the process stays up, the
    run waits for Redis and completes, and the control channel answers afterwards."""
    config = SimulatorConfig(exchange="binance", symbols=6, latency_ms=(200.0, 200.0))
    with RedisServer(appendonly=True) as private:
        redis = redis_client(private.url)  # reconnects after the restart, as the service's own
        async with serve_simulator(config) as sim:
            proc = await livermore(
                *("serve", "--redis-url", private.url, "--base-url", sim.base_url, "--port", str(free_port())),
                *("--top", "4", "--timeframes", "1h,5m", "--autostart"),
                env={"LIVERMORE_ADMIN_TOKEN": "t", "LIVERMORE_MAX_IN_FLIGHT": "1", "LIVERMORE_COMMAND_SUB": "restart"},
            )
            try:
                store = WarmupStore(redis)
                async with asyncio.timeout(30):
                    while (stats := await store.load_stats(BINANCE)) is None or stats.completed_pairs < 1:
                        await asyncio.sleep(0.02)
                private.kill()
                await asyncio.sleep(4)  # longer than redis-py's own retries of one command
                assert proc.returncode is None
                private.start()
                async with asyncio.timeout(60):
                    while (stats := await store.load_stats(BINANCE)) is None or stats.running:
                        await asyncio.sleep(0.05)
                assert (stats.outcome, stats.failed_pairs, stats.completed_pairs) == ("complete", 0, 8)
                status = await livermore("send", "status", "--redis-url", private.url, "--sub", "restart")
                async with asyncio.timeout(30):
                    assert await status.wait() == 0
                assert await terminated(proc) == 0
            finally:
                await reaped(proc)
                await redis.aclose()


async def test_the_service_client_does_not_see_a_redis_blip() -> None:
    """A connection left stale by a restart is reconnected and the command sent again; a plain
    redis-py client would raise `Connection closed by server` on it."""
    with RedisServer(appendonly=True) as private:
        async with redis_client(private.url) as redis, Redis.from_url(private.url) as plain:
            await redis.set("k", "v")
            await plain.ping()
            private.kill()
            private.start()
            assert await redis.get("k") == b"v"
            with pytest.raises(RedisConnectionError):
                await plain.get("k")


def drop_every_connection(cluster: RedisClusterServers) -> None:
    """What a restart of every node leaves a client: each node closes all its clients' connections."""
    for node in cluster.nodes:
        with redis.Redis(host="127.0.0.1", port=node.port) as admin:
            admin.client_kill_filter(_type="normal", skipme=True)


async def test_on_a_cluster_the_service_client_does_not_see_connections_every_node_dropped(
    cluster_servers: RedisClusterServers,
) -> None:
    """The cluster's client keeps the same promise: after the nodes dropped every connection, a
    pipeline of script calls across the nodes, a page's write and a single command each go
    through as if nothing happened (the client asks for the slot map again and sends again)."""
    async with redis_client(cluster_servers.url) as client:
        assert is_cluster(client)
        await client.flushall()
        cache = cache_of(client)
        pairs = [(f"S{i}", TF) for i in range(30)]
        await cache.add_candles(1, [c for symbol, _ in pairs for c in series(symbol, 3)])
        before = await cache.windows(1, pairs, depth=60)
        drop_every_connection(cluster_servers)
        assert await cache.windows(1, pairs, depth=60) == before
        drop_every_connection(cluster_servers)
        assert await cache.add_candles(1, series("S0", 5)) == 5
        drop_every_connection(cluster_servers)
        assert await cache.count(1, "S0", TF) == 5


async def test_a_warmup_waiting_on_a_cluster_asks_every_master_whether_redis_is_back() -> None:
    """redis-py PINGs one node of a cluster: with another master down, the warmup's probe would
    call Redis back at once and the failed step fail again, outage after outage, never reaching
    the outage limit. Its probe PINGs every master."""
    with RedisClusterServers() as cluster:
        async with redis_client(cluster.url) as client:
            await ping_every_master(client)
            down = cluster.nodes[-1]
            down.kill()
            with pytest.raises(RedisConnectionError):
                await ping_every_master(client)
            down.start()
            await ping_every_master(client)


async def test_a_cluster_no_node_answers_for_is_a_connection_error_as_a_server_is() -> None:
    """redis-py raises RedisClusterException, no RedisError: every layer's way with an unreachable
    Redis (wait, resubscribe, 503, one CLI line) would miss it."""
    client = redis_client(f"redis+cluster://127.0.0.1:{free_port()}/0")
    with pytest.raises(RedisConnectionError, match="cannot be connected"):
        await client.ping()
    await client.aclose()


async def test_a_warmup_whose_redis_stays_away_ends_interrupted_in_one_line_and_the_rerun_completes() -> None:
    config = SimulatorConfig(exchange="binance", symbols=8, latency_ms=(200.0, 200.0))
    env = {**os.environ, "LIVERMORE_REDIS_OUTAGE_LIMIT_S": "1", "LIVERMORE_MAX_IN_FLIGHT": "1"}
    with RedisServer(appendonly=True) as private:
        async with serve_simulator(config) as sim, redis_client(private.url) as redis:
            args = ("warmup", "--redis-url", private.url, "--base-url", sim.base_url, "--top", "4")
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "livermore", *args, "--timeframes", "1h,5m", env=env, stdout=PIPE, stderr=PIPE
            )
            store = WarmupStore(redis)
            async with asyncio.timeout(30):
                while (stats := await store.load_stats(BINANCE)) is None or stats.completed_pairs < 1:
                    await asyncio.sleep(0.02)
            private.kill()
            async with asyncio.timeout(30):
                _, err = await proc.communicate()
            private.start()
            assert proc.returncode == 3  # interrupted
            text = err.decode()
            assert "Traceback" not in text
            assert text.strip().splitlines()[-1].startswith("interrupted: Redis was unreachable for over 1 s; ")
            stale = await store.load_stats(BINANCE)
            assert stale is not None and stale.outcome == "interrupted"  # `fetching`, its lease holder gone
            rerun = await livermore(*args, "--timeframes", "1h,5m")
            async with asyncio.timeout(60):
                assert await rerun.wait() == 0
            final = await store.load_stats(BINANCE)
            assert final is not None and final.outcome == "complete"
            assert final.total_pairs < 8  # only what the interrupted run left


async def test_a_warmup_on_a_cluster_outlives_a_master_restarted_mid_run() -> None:
    """A master SIGKILLed mid-run and restarted from its AOF (its slots unserved meanwhile):
    `livermore warmup` waits until every master answers, then completes; every pair is whole and
    no key holds two members of one open time."""
    config = SimulatorConfig(exchange="binance", symbols=8, latency_ms=(100.0, 100.0))
    with RedisClusterServers(appendonly=True) as cluster:
        async with redis_client(cluster.url) as redis, serve_simulator(config) as sim:
            symbols = sorted(sim.simulator.listings)[:6]
            proc = await livermore(
                *("warmup", "--redis-url", cluster.url, "--base-url", sim.base_url, "--json"),
                *("--symbols", ",".join(symbols), "--timeframes", "1h,5m"),
                env={"LIVERMORE_MAX_IN_FLIGHT": "1"},
                stdout=PIPE,
            )
            try:
                async with asyncio.timeout(30):
                    while (stats := await stats_if_reachable(redis)) is None or stats.completed_pairs < 2:
                        await asyncio.sleep(0.02)
                queue_port = redis.get_node_from_key(warmup_queue_key(BINANCE)).port  # every claim goes there
                down = next(node for node in cluster.nodes if node.port == queue_port)
                down.kill()
                await asyncio.sleep(2.0)  # the pairs left take about 1 s
                assert proc.returncode is None  # waiting for that master
                down.start()
                async with asyncio.timeout(60):
                    out, _ = await proc.communicate()
                report = orjson.loads(out)
                assert proc.returncode == 0, report
                assert (report["outcome"], report["completedPairs"], report["totalPairs"]) == ("complete", 12, 12)
                assert await duplicate_scores(redis) == 0
            finally:
                await reaped(proc)


async def stats_if_reachable(redis: RedisClient) -> WarmupStats | None:
    with contextlib.suppress(RedisError, RedisClusterException):
        return await WarmupStore(redis).load_stats(BINANCE)
    return None
