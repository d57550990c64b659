"""RedisOutage without sockets: which errors are outages, a step run again once Redis answers, one
probe for many waiting workers, and giving up after the limit."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import BusyLoadingError, ClusterDownError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from livermore.warmup.outage import RedisOutage, is_outage


class Redis:
    """Away until `back` is set; counts the probe's pings."""

    def __init__(self) -> None:
        self.back = asyncio.Event()
        self.pings = 0

    async def ping(self) -> bool:
        self.pings += 1
        if not self.back.is_set():
            raise RedisConnectionError("Connection refused")
        return True

    async def write(self) -> str:
        if not self.back.is_set():
            raise RedisConnectionError("Connection refused")
        return "written"


def test_only_an_unreachable_redis_is_an_outage() -> None:
    assert is_outage(RedisConnectionError()) and is_outage(RedisTimeoutError()) and is_outage(BusyLoadingError())
    assert is_outage(ClusterDownError("The cluster is down"))
    assert not is_outage(ResponseError("WRONGTYPE")) and not is_outage(ValueError())


async def test_steps_wait_for_redis_and_run_again_once_it_is_back() -> None:
    redis = Redis()
    outage = RedisOutage(redis.ping, limit_s=30, backoff_s=(0.001, 0.01))
    steps = [asyncio.create_task(outage.retry(redis.write)) for _ in range(5)]
    while redis.pings < 3:
        await asyncio.sleep(0.001)
    assert not any(step.done() for step in steps) and not outage.up.is_set()
    redis.back.set()
    assert await asyncio.gather(*steps) == ["written"] * 5
    assert outage.outages == 1  # five workers met it; one outage, one probe
    assert outage.up.is_set() and not outage.gave_up.is_set()


async def test_an_outage_past_the_limit_gives_up_and_every_step_returns_none() -> None:
    redis = Redis()
    outage = RedisOutage(redis.ping, limit_s=0.05, backoff_s=(0.001, 0.01))
    assert await asyncio.gather(outage.retry(redis.write), outage.retry(redis.write)) == [None, None]
    assert outage.gave_up.is_set() and redis.pings >= 2
    redis.back.set()
    assert await outage.retry(redis.write) is None  # given up for good: the run ends


async def test_an_error_that_is_not_an_outage_is_the_steps_own() -> None:
    async def wrong() -> None:
        raise ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")

    outage = RedisOutage(Redis().ping, limit_s=30)
    with pytest.raises(ResponseError):
        await outage.retry(wrong)
    assert outage.up.is_set() and outage.outages == 0
