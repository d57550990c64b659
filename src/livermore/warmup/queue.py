"""Where the drain takes its entries from: a Redis Stream read by one consumer group (a warmup),
or a plain list (a backfill, which must not touch a running warmup's stream).

A worker claims entries with XREADGROUP and completes them with XACK: the unit of work lives in
Redis, so several worker processes (or machines) can share one schedule without a redesign.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from livermore.connection import RedisClient
from livermore.keys import WARMUP_QUEUE_GROUP as GROUP
from livermore.keys import warmup_queue_key
from livermore.warmup.schedule import WarmupScheduleEntry

Claimed = list[tuple[bytes, WarmupScheduleEntry]]
# XREADGROUP's reply on this client (RESP2, bytes): [[stream, [(id, fields), ...]], ...]
_ReadReply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]


class EntryQueue:
    """A warmup's schedule entries in Redis; each claimed by one worker, acknowledged when done."""

    def __init__(self, redis: RedisClient, exchange_id: int, consumer: str):
        self.redis = redis
        self.key = warmup_queue_key(exchange_id)
        self.consumer = consumer

    async def reset(self, entries: Sequence[WarmupScheduleEntry]) -> None:
        """Replace the queue with `entries`, in order, and a fresh consumer group: one round trip."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.key)
            for entry in entries:
                pipe.xadd(self.key, {"entry": entry.to_json()})
            pipe.xgroup_create(self.key, GROUP, id="0", mkstream=True)
            await pipe.execute()

    async def claim(self, count: int) -> Claimed:
        """Up to `count` entries nobody has claimed yet, in schedule order."""
        reply = cast(_ReadReply, await self.redis.xreadgroup(GROUP, self.consumer, {self.key: ">"}, count=count))
        if not reply:
            return []
        _, messages = reply[0]
        return [(mid, WarmupScheduleEntry.model_validate_json(fields[b"entry"])) for mid, fields in messages]

    async def complete(self, *ids: bytes) -> None:
        if ids:
            await self.redis.xack(self.key, GROUP, *ids)


class EntryList:
    """Entries held in this process: claimed in order, nothing to acknowledge."""

    def __init__(self, entries: Sequence[WarmupScheduleEntry]):
        self._left = [(str(i).encode(), e) for i, e in enumerate(entries)]
        self._left.reverse()

    async def claim(self, count: int) -> Claimed:
        return [self._left.pop() for _ in range(min(count, len(self._left)))]

    async def complete(self, *ids: bytes) -> None:
        """Nothing to do: a claimed entry is gone from the list."""
