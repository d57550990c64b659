"""A Redis lease lock: one warmup per exchange at a time, across processes and machines.

The lease expires unless renewed, so a lock left by a killed process frees itself after `ttl_s`. That
alone makes a supervisor's immediate restart (systemd, a container) fail for up to `ttl_s`, so the
lease also records who holds it (`LeaseHolder`): a holder on our own host whose process is gone is
provably dead, and its lease is taken over at once ("our own host": the same hostname and pid
namespace, as containers run with the host's network share its hostname but not its pids). A holder
we cannot judge (another host, a value written by an older version) is waited for, up to `wait_s`,
never taken over.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeGuard

import orjson

from livermore.connection import RedisClient
from livermore.models import now_ms

log = logging.getLogger(__name__)

# Renew or release only if the lease is still ours (compare the whole value, then act), atomically.
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
# Take over a dead holder's lease only if it still holds exactly the value we judged dead: of two
# processes restarted at once, both judge the same value, and only the first one's SET lands.
_TAKE_OVER = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end"
    " return 0"
)

# Tokens of the leases whose holders run in this process (from before their SET to after their
# release). A lease naming our own pid and host but a token not in here was written by an earlier
# process that had our pid: a container restarted after `kill -9` gives its service the same pid
# (often 1), which `os.kill(pid, 0)` would report as alive.
_HELD_HERE: set[str] = set()


def _read_pid_namespace() -> int | None:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:  # not Linux: the hostname alone says whose pids we see
        return None


_PID_NS = _read_pid_namespace()


def pid_namespace() -> int | None:
    """This process's pid namespace (Linux: the inode of /proc/self/ns/pid), None where unknown. Two
    containers may share a hostname (`--network host`, an explicit `--hostname`) but never see each
    other's pids: a pid proves nothing across namespaces."""
    return _PID_NS


def pid_exists(pid: int) -> bool:
    """Whether a process `pid` exists on this host. Only ProcessLookupError proves it does not:
    PermissionError means it exists but belongs to another user, and anything else proves nothing."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True
    return True


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a lease, as its value in Redis records it: `{"token", "host", "pid", "acquiredAt",
    "pidNs"}` (`pidNs`: see `pid_namespace`).

    A value that is not such a document (a plain token written by an older version, garbage) is an
    unknown holder: `host`, `pid` and `acquired_at` are None and `token` is the raw value as text.
    Nothing about an unknown holder can be proved, so it is only ever waited for.
    """

    token: str
    host: str | None = None
    pid: int | None = None
    acquired_at: int | None = None  # Unix ms
    pid_ns: int | None = None

    @property
    def known(self) -> bool:
        return self.host is not None and self.pid is not None

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "token": self.token,
                "host": self.host,
                "pid": self.pid,
                "acquiredAt": self.acquired_at,
                "pidNs": self.pid_ns,
            }
        ).decode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> LeaseHolder:
        """Never raises: whatever is not a well-formed holder document is an unknown holder."""
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        try:
            doc: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return cls(token=text)
        if not isinstance(doc, dict):
            return cls(token=text)
        token, host, pid, acquired_at, pid_ns = (doc.get(k) for k in ("token", "host", "pid", "acquiredAt", "pidNs"))
        if not (isinstance(token, str) and isinstance(host, str) and host and _is_int(pid) and pid > 0):
            return cls(token=text)
        return cls(
            token=token,
            host=host,
            pid=pid,
            acquired_at=acquired_at if _is_int(acquired_at) else None,
            pid_ns=pid_ns if _is_int(pid_ns) else None,
        )

    def provably_dead(self, host: str, *, pid_exists: Callable[[int], bool] = pid_exists) -> bool:
        """True only if this holder cannot be running: it is on `host` (ours) in our pid namespace (a
        pid means nothing on another machine or in another container) and its process is gone, or
        its pid is ours but no lease of this process has its token (an earlier process had our pid).
        False whenever in doubt: a wrong True lets two warmups run at once, a wrong False only makes
        the caller wait."""
        if self.host is None or self.pid is None or self.host != host or self.pid_ns != pid_namespace():
            return False
        if self.pid == os.getpid():
            return self.token not in _HELD_HERE
        return not pid_exists(self.pid)

    def provably_alive(self, host: str, *, pid_exists: Callable[[int], bool] = pid_exists) -> bool:
        """True only if this holder runs right now: on our host, in our pid namespace, its process
        there (or, for our own pid, a lease of this process holds its token)."""
        if self.host is None or self.pid is None or self.host != host or self.pid_ns != pid_namespace():
            return False
        if self.pid == os.getpid():
            return self.token in _HELD_HERE
        return pid_exists(self.pid)

    def describe(self) -> str:
        if not self.known:
            return "an unknown holder"
        return f"pid {self.pid} on {self.host}"


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


async def lease_holder(redis: RedisClient, key: str) -> LeaseHolder | None:
    """Who holds the lease at `key` right now; None if nobody does. With `provably_dead` this tells a
    run that is still going from one that was interrupted (a stats document left at "fetching")."""
    raw = await redis.get(key)
    return None if raw is None else LeaseHolder.from_json(raw)


class LockHeldError(Exception):
    """Somebody else holds the lease, and is not provably dead."""

    def __init__(self, key: str, holder: LeaseHolder):
        super().__init__(f"lease {key} is held by {holder.describe()}")
        self.key = key
        self.holder = holder


WaitSink = Callable[[LeaseHolder, float], None]


class LeaseLock:
    """`async with LeaseLock(redis, key, ttl_s=...)`: acquire or raise LockHeldError; renewed in the
    background.

    A lease held by a provably dead holder (`LeaseHolder.provably_dead`) is taken over at once. Any
    other holder is waited for up to `wait_s` (0: not at all, the caller decides whether to wait),
    with `on_wait(holder, remaining_s)` called once when the wait begins, so the caller can say why
    it is not starting; `remaining_s` is how long the lease has left to live, capped at `wait_s`.

    `lost` is set if a renewal finds the lease gone or someone else's (e.g. Redis restarted): the
    holder should stop.

    :param ttl_s: a killed holder's lease frees itself after this long (no default: Settings has it).
    :param clock: wall-clock Unix ms, recorded as the holder's `acquiredAt`.
    """

    def __init__(
        self,
        redis: RedisClient,
        key: str,
        *,
        ttl_s: float,
        wait_s: float = 0.0,
        on_wait: WaitSink | None = None,
        clock: Callable[[], int] = now_ms,
    ):
        self.redis = redis
        self.key = key
        self.ttl_ms = int(ttl_s * 1000)
        self.wait_s = wait_s
        self.on_wait = on_wait
        self.clock = clock
        self.token = uuid.uuid4().hex
        self.host = socket.gethostname()
        self.holder: LeaseHolder | None = None  # ours, once acquired
        self.took_over: LeaseHolder | None = None  # the provably dead holder we replaced, if any
        self.lost = asyncio.Event()
        self._value = ""
        self._renewer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LeaseLock:
        _HELD_HERE.add(self.token)  # before our value can be seen, so no one here judges it dead
        try:
            await self._acquire()
        except BaseException:
            _HELD_HERE.discard(self.token)
            raise
        self._renewer = asyncio.create_task(self._renew_forever())
        return self

    async def _acquire(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        poll_s = min(0.1, self.ttl_ms / 10_000)
        waited = False
        while True:
            mine = LeaseHolder(self.token, self.host, os.getpid(), self.clock(), pid_namespace())
            self._value = mine.to_json()
            if await self.redis.set(self.key, self._value, nx=True, px=self.ttl_ms):
                self.holder = mine
                return
            raw = await self.redis.get(self.key)
            if raw is None:  # it expired or was released between our SET and GET: try again
                continue
            theirs = LeaseHolder.from_json(raw)
            if theirs.provably_dead(self.host):
                if await self.redis.eval(_TAKE_OVER, 1, self.key, raw, self._value, self.ttl_ms):
                    log.warning("took over the lease of %s from dead pid %s", self.key, theirs.pid)
                    self.holder, self.took_over = mine, theirs
                    return
                continue  # somebody changed it first: judge the new value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise LockHeldError(self.key, theirs)
            if not waited:
                waited = True
                if self.on_wait is not None:
                    pttl_ms = await self.redis.pttl(self.key)
                    left = remaining if pttl_ms < 0 else min(pttl_ms / 1000, remaining)
                    self.on_wait(theirs, left)
            await asyncio.sleep(min(poll_s, remaining))

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            try:
                if not await self.redis.eval(_RENEW, 1, self.key, self._value, self.ttl_ms):
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
            await self.redis.eval(_RELEASE, 1, self.key, self._value)
        except Exception as err:  # it will expire on its own
            log.warning("could not release lease %s: %s", self.key, err)
        finally:
            # Our holder is no longer running: a value left behind (the release failed) is dead.
            _HELD_HERE.discard(self.token)
