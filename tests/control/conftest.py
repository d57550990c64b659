"""The control tests' client: the served world's channel listening, a client subscribed to its replies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from livermore.control.client import ControlClient
from tests.support.control_world import World, listening


@pytest.fixture
async def client(world: World, redis: Redis) -> AsyncIterator[ControlClient]:
    async with listening(world, redis) as c:
        yield c
