"""A Redis lease lock: one warmup per exchange at a time, across processes and machines.

The lease expires unless renewed, so a lock left by a killed process frees itself after `ttl_s`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from types import TracebackType

from redis.asyncio import Redis

log = logging.getLogger(__name__)

# Renew or release only if the lock is still ours (compare token, then act), atomically.
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class LockHeldError(Exception):
    """Somebody else holds the lease."""


class LeaseLock:
    """`async with LeaseLock(redis, key)`: acquire or raise LockHeldError; renewed in the background.

    `lost` is set if a renewal finds the lease gone (e.g. Redis restarted): the holder should stop.
    """

    def __init__(self, redis: Redis, key: str, *, ttl_s: float):
        self.redis = redis
        self.key = key
        self.ttl_ms = int(ttl_s * 1000)
        self.token = uuid.uuid4().hex
        self.lost = asyncio.Event()
        self._renewer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LeaseLock:
        if not await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms):
            raise LockHeldError(self.key)
        self._renewer = asyncio.create_task(self._renew_forever())
        return self

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            try:
                if not await self.redis.eval(_RENEW, 1, self.key, self.token, self.ttl_ms):
                    log.error("lease %s was lost", self.key)
                    self.lost.set()
                    return
            except Exception as e:  # Redis away for a moment: the lease may still hold, try again
                log.warning("could not renew lease %s: %s", self.key, e)

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
        try:
            await self.redis.eval(_RELEASE, 1, self.key, self.token)
        except Exception as err:  # it will expire on its own
            log.warning("could not release lease %s: %s", self.key, err)
