"""Shared fixtures: a private redis-server per test session, a clean database per test; for the
suites in CLUSTER_SUITES, also a private 3-master Redis Cluster, each of their tests run on both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from livermore.connection import RedisClient
from livermore.embedded import RedisClusterServers, RedisServer
from livermore.service import redis_client
from livermore.simulator import SimulatorConfig
from tests.support.control_world import World, served_world
from tests.support.warmup_world import Env, make_env

HERE = Path(__file__).parent
# Run on the standalone server and on the cluster (the test id says which): what touches Redis in
# every way the service does, for under a minute more. Tests that stop or kill a private server
# are marked `standalone` (a cluster node's restart is another matter).
CLUSTER_SUITES = (
    "cache/",
    "warmup/",
    "control/test_channel.py",
    "control/test_original_commands.py",
    "admin/test_app.py",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "standalone: in a CLUSTER_SUITES module, run on the standalone server only")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`redis_server` (and all that builds on it: `redis`, `binance`, `world`) on both kinds."""
    path = metafunc.definition.path.relative_to(HERE).as_posix()
    on_both = path.startswith(CLUSTER_SUITES) and not metafunc.definition.get_closest_marker("standalone")
    if on_both and "redis_server" in metafunc.fixturenames:
        metafunc.parametrize("redis_server", ["standalone", "cluster"], indirect=True)


@pytest.fixture(scope="session")
def standalone_server() -> Iterator[RedisServer]:
    """Our own redis-server on a free port in a temp dir; never the machine's 6379."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def cluster_servers() -> Iterator[RedisClusterServers]:
    """Our own 3-master cluster, started the first time a test asks for it (a few seconds)."""
    with RedisClusterServers() as cluster:
        yield cluster


@pytest.fixture
def redis_server(request: pytest.FixtureRequest) -> RedisServer | RedisClusterServers:
    """The Redis this test runs on: the session's server, or its cluster (its `url`'s scheme,
    `redis+cluster://`, tells the service to build its cluster client)."""
    kind = getattr(request, "param", "standalone")
    return request.getfixturevalue("cluster_servers" if kind == "cluster" else "standalone_server")


@pytest.fixture
async def redis(redis_server: RedisServer | RedisClusterServers) -> AsyncIterator[RedisClient]:
    """The service's own client on this test's Redis, emptied first (every master: it is ours)."""
    client = redis_client(redis_server.url)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
async def binance(redis: Redis) -> AsyncIterator[Env]:
    """A Binance simulator with 4 symbols, an adapter on it, and a SmartWarmupService on `redis`."""
    async for env in make_env(redis, SimulatorConfig(exchange="binance", symbols=4), "binance"):
        yield env


@pytest.fixture
async def world(redis: Redis, redis_server: RedisServer | RedisClusterServers) -> AsyncIterator[World]:
    """The assembled service (control channel + admin app) on the simulator, as `livermore serve` builds it."""
    async with served_world(redis, redis_server.url) as w:
        yield w
