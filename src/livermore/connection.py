"""The one Redis client type every layer takes: a standalone server's or a Redis Cluster's.

`livermore.service.redis_client` builds one or the other from the URL; below it, code is written
once for both. What differs on a cluster (a script or a transaction touches keys of one slot only,
a pipeline is split by node) is decided where it matters, with `is_cluster`.
"""

from __future__ import annotations

from typing import TypeAlias, TypeGuard

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

RedisClient: TypeAlias = Redis | RedisCluster


def is_cluster(redis: RedisClient) -> TypeGuard[RedisCluster]:
    return isinstance(redis, RedisCluster)


async def ping_every_master(redis: RedisClient) -> None:
    """PING the server, or every master of a cluster (redis-py sends a cluster's PING to one node
    only): a warmup waiting out an outage must not go on while the master that failed is still
    down, only to fail again at once."""
    if is_cluster(redis):
        await redis.ping(target_nodes=RedisCluster.PRIMARIES)
    else:
        await redis.ping()
