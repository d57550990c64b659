"""Shared fixtures: a private redis-server per test session, a clean database per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from livermore.embedded import RedisServer
from livermore.simulator import SimulatorConfig
from tests.support.control_world import World, served_world
from tests.support.warmup_world import Env, make_env


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """Our own redis-server on a free port in a temp dir; never the machine's 6379."""
    with RedisServer() as server:
        yield server


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A client on the session's server; the database is flushed before each test (it is ours)."""
    client = Redis.from_url(redis_server.url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def binance(redis: Redis) -> AsyncIterator[Env]:
    """A Binance simulator with 4 symbols, an adapter on it, and a SmartWarmupService on `redis`."""
    async for env in make_env(redis, SimulatorConfig(exchange="binance", symbols=4), "binance"):
        yield env


@pytest.fixture
async def world(redis: Redis, redis_server: RedisServer) -> AsyncIterator[World]:
    """The assembled service (control channel + admin app) on the simulator, as `livermore serve` builds it."""
    async with served_world(redis, redis_server.url) as w:
        yield w
