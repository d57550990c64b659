"""WarmupStore: the warmup's documents in Redis (schedule, stats) and the stats events channel.

Everything that reads or writes them (the run, the control handlers, the admin app) goes through
here, so their shapes and keys have one owner.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import cast

import orjson

from livermore.connection import RedisClient
from livermore.keys import (
    warmup_events_channel,
    warmup_lock_key,
    warmup_schedule_key,
    warmup_stats_key,
    warmup_workers_key,
)
from livermore.warmup.lock import LeaseHolder
from livermore.warmup.schedule import WarmupSchedule
from livermore.warmup.stats import RUNNING, WarmupStats, WorkerTally

log = logging.getLogger(__name__)

INTERRUPTED = (
    "interrupted: no process runs this warmup any more (it was killed or lost Redis); the next start redoes it"
)

# One key (the stats), so it runs on a Redis Cluster too; the channel is no key: a cluster carries
# a PUBLISH to every node's subscribers.
_PUBLISH_STATS = "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('PUBLISH', ARGV[2], ARGV[1])"


class WarmupStore:
    def __init__(self, redis: RedisClient):
        self.redis = redis

    async def save_schedule(self, schedule: WarmupSchedule) -> None:
        """The JSON with no TTL: the admin UI reads it before and after a run."""
        await self.redis.set(warmup_schedule_key(schedule.exchange_id), schedule.to_json())

    async def load_schedule(self, exchange_id: int) -> WarmupSchedule | None:
        raw = await self.redis.get(warmup_schedule_key(exchange_id))
        return WarmupSchedule.model_validate_json(raw) if raw else None

    async def save_tally(self, exchange_id: int, worker: str, tally: WorkerTally) -> None:
        await self.redis.hset(warmup_workers_key(exchange_id), worker, tally.to_json())

    async def load_tallies(self, exchange_id: int, run: int) -> dict[str, WorkerTally]:
        """The workers' shares of `run` (their tallies of earlier runs are history)."""
        raw = cast(dict[bytes, bytes], await self.redis.hgetall(warmup_workers_key(exchange_id)))
        tallies = {name.decode(): WorkerTally.model_validate_json(doc) for name, doc in raw.items()}
        return {name: tally for name, tally in tallies.items() if tally.run == run}

    async def load_stats(self, exchange_id: int) -> WarmupStats | None:
        """The current or last run's stats, or None before any run; a run that says it runs while
        nobody holds its lease is shown as what it is: interrupted."""
        raw = await self.current_stats(exchange_id)
        return WarmupStats.model_validate_json(raw) if raw else None

    async def current_stats(self, exchange_id: int) -> bytes | None:
        """The stats document as stored, or ended as `interrupted` when no process runs it any more
        (killed, or it lost Redis): no lease, or one whose holder is proved gone. One round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(warmup_stats_key(exchange_id))
            pipe.get(warmup_lock_key(exchange_id))
            raw, lease = cast(tuple[bytes | None, bytes | None], tuple(await pipe.execute()))
        if not raw or orjson.loads(raw).get("status") not in RUNNING:
            return raw
        if lease is not None and not LeaseHolder.from_json(lease).provably_dead(socket.gethostname()):
            return raw
        stats = WarmupStats.model_validate_json(raw)
        stats.end("interrupted", INTERRUPTED)
        return stats.to_json()

    async def publish_stats(self, stats: WarmupStats) -> None:
        """SET the stats key (no TTL) and PUBLISH the same JSON, in one script call (a pipeline
        would do on one server, but redis-py's cluster pipeline refuses PUBLISH)."""
        exchange_id = stats.exchange_id
        await self.redis.eval(
            _PUBLISH_STATS, 1, warmup_stats_key(exchange_id), stats.to_json(), warmup_events_channel(exchange_id)
        )

    async def stats_events(
        self, exchange_id: int, poll_s: float = 1.0, *, current: bool = True
    ) -> AsyncIterator[bytes]:
        """The current stats JSON (if any, and unless `current` is False), then every update, until
        the consumer stops.

        Reads the key once subscribed, so no update falls between the two; the first yield comes
        then (b"" when there is no current stats to give), so a consumer knows it is listening.
        redis-py reconnects and resubscribes on its own when Redis restarts: each resubscription
        yields the current stats again, as updates published meanwhile were lost. Yields b"" every
        `poll_s` without news, so a consumer can check whether it should stop.
        """
        pubsub = self.redis.pubsub()  # with the subscribe confirmations: they say when (re)subscribed
        await pubsub.subscribe(warmup_events_channel(exchange_id))
        try:
            while True:
                message = await pubsub.get_message(timeout=poll_s)
                if message is None:
                    yield b""
                elif message["type"] == "subscribe":
                    yield (await self.current_stats(exchange_id) if current else None) or b""
                    current = True
                else:
                    yield message["data"]
        finally:
            await pubsub.aclose()


class StatsPublisher:
    """Writes a run's stats at most every `interval_s` unless forced: progress after every batch
    without flooding Redis or viewers. A failed write is logged: progress is for viewers, and a
    Redis hiccup must not stop the warmup."""

    def __init__(self, store: WarmupStore, *, interval_s: float):
        self.store = store
        self.interval_s = interval_s
        self._last = 0.0

    def due(self, *, force: bool = False) -> bool:
        """Whether `publish` would write now (so a caller can skip gathering what it would not)."""
        return force or time.monotonic() - self._last >= self.interval_s

    async def publish(self, stats: WarmupStats, *, force: bool = False) -> None:
        if not self.due(force=force):
            return
        self._last = time.monotonic()
        try:
            await self.store.publish_stats(stats)
        except Exception as e:
            log.warning("could not publish warmup stats: %s", e)
