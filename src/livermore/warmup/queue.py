"""Where the drain takes its entries from: a Redis Stream read by one consumer group (a warmup),
or a plain list (a backfill, which must not touch a running warmup's stream).

A worker claims entries with XREADGROUP and completes them with XACK: the unit of work lives in
Redis, so the process that scheduled a run and any number of `livermore worker` processes (on this
machine or others) share one schedule. An entry claimed by a worker that died stays pending with
it; after `reclaim_idle_s` without an acknowledgement any other worker takes it over (XAUTOCLAIM)
and fetches it again, which writes the same members at the same scores: nothing is lost, and
nothing is held twice. The run is over when nothing is left unread and nothing is pending.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from redis.exceptions import ResponseError

from livermore.connection import RedisClient
from livermore.keys import WARMUP_QUEUE_GROUP as GROUP
from livermore.keys import warmup_queue_key
from livermore.warmup.schedule import WarmupScheduleEntry

Claimed = list[tuple[bytes, WarmupScheduleEntry]]
# XREADGROUP's reply on this client (RESP2, bytes): [[stream, [(id, fields), ...]], ...]
_Messages = list[tuple[bytes, dict[bytes, bytes]]]
_ReadReply = list[tuple[bytes, _Messages]]


@dataclass(frozen=True)
class QueueProgress:
    """What is left of a run's queue: entries nobody has read yet, and read but not acknowledged."""

    unread: int
    pending: int

    @property
    def settled(self) -> bool:
        return not self.unread and not self.pending


class EntryQueue:
    """A warmup's schedule entries in Redis; each claimed by one worker, acknowledged when done.

    :param consumer: this worker's name in the group (a process's name: a dead one's entries are
        reclaimed by name-independent idle time, so any unique name will do).
    :param reclaim_idle_s: take over entries left unacknowledged this long by another worker.
    """

    def __init__(self, redis: RedisClient, exchange_id: int, consumer: str, *, reclaim_idle_s: float):
        self.redis = redis
        self.key = warmup_queue_key(exchange_id)
        self.consumer = consumer
        self.reclaim_idle_ms = int(reclaim_idle_s * 1000)
        self.reclaimed = 0  # entries this worker took over from idle ones
        self.run: int | None = None  # the run (its stats' startedAt) of the entries claimed last
        self._next_reclaim = 0.0

    async def reset(self, entries: Sequence[WarmupScheduleEntry], run: int) -> None:
        """Replace the queue with `entries` of `run`, in order, and a fresh consumer group: one round trip."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.key)
            for entry in entries:
                pipe.xadd(self.key, {"entry": entry.to_json(), "run": str(run)})
            pipe.xgroup_create(self.key, GROUP, id="0", mkstream=True)
            await pipe.execute()

    async def drop(self) -> None:
        """The run ended before its queue did (cancelled, interrupted): workers stop finding entries."""
        await self.redis.delete(self.key)

    async def claim(self, count: int) -> Claimed:
        """Up to `count` entries: those a dead worker left idle first (looked for at most twice per
        idle period), then entries nobody has claimed yet, in schedule order. None when no run has a
        queue (it ended, or none started)."""
        try:
            if time.monotonic() >= self._next_reclaim and (reclaimed := await self._reclaim(count)):
                return reclaimed
            reply = cast(_ReadReply, await self.redis.xreadgroup(GROUP, self.consumer, {self.key: ">"}, count=count))
        except ResponseError as e:
            if "NOGROUP" in str(e):
                return []
            raise
        return self._entries(reply[0][1]) if reply else []

    async def _reclaim(self, count: int) -> Claimed:
        self._next_reclaim = time.monotonic() + self.reclaim_idle_ms / 2000
        _, messages, _ = await self.redis.xautoclaim(self.key, GROUP, self.consumer, self.reclaim_idle_ms, count=count)
        self.reclaimed += len(messages)
        return self._entries(messages)

    def _entries(self, messages: _Messages) -> Claimed:
        if messages:
            self.run = int(messages[-1][1][b"run"])
        return [(mid, WarmupScheduleEntry.model_validate_json(fields[b"entry"])) for mid, fields in messages]

    async def complete(self, *ids: bytes) -> set[bytes]:
        """Acknowledge `ids` (one round trip); those still pending until now. An entry another worker
        took over and acknowledged first is not among them: it is that worker's to count."""
        if not ids:
            return set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for mid in ids:
                pipe.xack(self.key, GROUP, mid)
            acked = await pipe.execute()
        return {mid for mid, n in zip(ids, acked, strict=True) if n}

    async def progress(self) -> QueueProgress | None:
        """How much of the run's queue is left, in one round trip; None when there is no queue."""
        try:
            groups = await self.redis.xinfo_groups(self.key)
        except ResponseError:  # no such key
            return None
        group = next((g for g in groups if g["name"] == GROUP.encode()), None)
        if group is None:
            return None
        return QueueProgress(unread=int(group["lag"] or 0), pending=int(group["pending"]))


class EntryList:
    """Entries held in this process: claimed in order, nothing to acknowledge."""

    def __init__(self, entries: Sequence[WarmupScheduleEntry]):
        self._left = [(str(i).encode(), e) for i, e in enumerate(entries)]
        self._left.reverse()

    async def claim(self, count: int) -> Claimed:
        return [self._left.pop() for _ in range(min(count, len(self._left)))]

    async def complete(self, *ids: bytes) -> set[bytes]:
        """Nothing to acknowledge: a claimed entry is gone from the list, and this drain's alone."""
        return set(ids)
