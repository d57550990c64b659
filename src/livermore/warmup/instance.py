"""The original's instance status key (`exchange:<id>:status`): who serves an exchange, and how it is.

The original's admin shows an exchange online, with its warmup panel and candle meter, only while
this key exists and says starting, warming or active. The original writes it with SET NX EX 45 when
it starts (so a second instance of the exchange sees it and refuses) and refreshes it every 15 s
with SET XX EX 45; a killed instance's key is gone 45 s later.

States follow what the warmup does, read from its stats events (so neither the runner nor the run
knows about this key): a run scanning, fetching or touching up -> `warming`; its end -> `active`
(with `lastError` when it ended banned, unreachable or failed; a cancelled or interrupted run is an
operator's act, not an error). Shutdown writes `stopping` then `stopped`, which is left to expire:
it is what the admin should read, and a new instance takes a `stopped` (or `idle`) key over at once.
The `stop` command does the same but keeps the process serving: no heartbeat until the next `start`.

The document has exactly the original's fields, so who wrote it (host, pid) is in a lease beside it
(`instance_lease_key`, a `LeaseLock`): after `kill -9`, a restarted instance on the same host finds
that lease's holder provably dead and takes both over at once, instead of being refused for the
document's remaining 45 s; a live holder, or one we cannot judge, refuses as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import ValidationError

from livermore.connection import RedisClient
from livermore.errors import InstanceAlreadyServing
from livermore.keys import instance_lease_key, instance_status_key
from livermore.models import CamelModel, now_ms
from livermore.warmup.lock import LeaseHolder, LeaseLock, LockHeldError
from livermore.warmup.outage import Backoff
from livermore.warmup.stats import WarmupStats
from livermore.warmup.store import WarmupStore
from livermore.warmup.tasks import cancel_until_done, unless_cancelled

log = logging.getLogger(__name__)

# SET unless a live instance holds the key; returns {its JSON, its TTL} when one does. `stopped`
# and `idle` are a clean shutdown's last word, and ARGV[3] == '1' says its writer is provably dead
# (we took its lease over): those are replaced without waiting. A document that is not JSON refuses.
_TAKE_OVER = """
local raw = redis.call('GET', KEYS[1])
if raw and ARGV[3] ~= '1' then
  local ok, doc = pcall(cjson.decode, raw)
  local state = ok and type(doc) == 'table' and doc['connectionState']
  if state ~= 'stopped' and state ~= 'idle' then return {raw, redis.call('TTL', KEYS[1])} end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
"""

ConnectionState = Literal["idle", "starting", "warming", "active", "stopping", "stopped"]
# Run outcomes that are the exchange's or the run's fault: shown as the instance's lastError.
ERROR_OUTCOMES = frozenset({"banned", "exchange_unreachable", "failed"})


def iso(ms: int) -> str:
    """The time as JavaScript's `toISOString()` writes it (the original's admin parses these)."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class InstanceStatus(CamelModel):
    """The original's document, its fields exactly, in its order; times are ISO strings."""

    exchange_id: int
    exchange_name: str
    hostname: str
    ip_address: str | None
    country_code: str | None
    admin_email: str | None
    admin_display_name: str | None
    connection_state: ConnectionState
    symbol_count: int
    connected_at: str | None
    last_heartbeat: str
    last_state_change: str
    registered_at: str
    last_error: str | None
    last_error_at: str | None

    def move(self, state: ConnectionState, at_ms: int, error: str | None = None) -> None:
        """Enter `state`: connectedAt is set on entering active (kept while it warms again) and
        cleared when the instance stops; an error is recorded with its time, and kept until the next."""
        at = iso(at_ms)
        if state == "active" and self.connected_at is None:
            self.connected_at = at
        elif state in ("stopped", "idle"):
            self.connected_at = None
        if error is not None:
            self.last_error, self.last_error_at = error, at
        self.connection_state = state
        self.last_state_change = self.last_heartbeat = at


@dataclass(frozen=True)
class InstanceIdentity:
    """Who serves: what the status document says besides its state and times."""

    exchange_id: int
    exchange_name: str
    hostname: str
    ip_address: str | None = None
    country_code: str | None = None
    admin_email: str | None = None
    admin_display_name: str | None = None

    def status(self, state: ConnectionState, symbol_count: int, at_ms: int) -> InstanceStatus:
        """A fresh document: registered, last heartbeat and state change all now, no error yet."""
        at = iso(at_ms)
        times = dict.fromkeys(("last_heartbeat", "last_state_change", "registered_at"), at)
        unset = dict.fromkeys(("connected_at", "last_error", "last_error_at"))
        doc = {**asdict(self), **times, **unset, "connection_state": state, "symbol_count": symbol_count}
        return InstanceStatus.model_validate(doc)


def follow_run(
    current: ConnectionState, stats: WarmupStats, since_ms: int
) -> tuple[ConnectionState, str | None] | None:
    """The state (and error) a warmup stats update moves the instance to, or None for no change.

    Runs that started before this instance registered are history, not news; a stopping or stopped
    instance no longer follows runs (the run it interrupts on the way out is not a return to active).
    """
    if stats.started_at < since_ms or current not in ("starting", "warming", "active"):
        return None
    if stats.running:
        return None if current == "warming" else ("warming", None)
    if current == "active":
        return None
    error = f"warmup {stats.outcome}: {stats.message}" if stats.outcome in ERROR_OUTCOMES else None
    return "active", error


def refusal(exchange: str, raw: bytes | str | None, ttl_s: int | None, holder: LeaseHolder | None = None) -> str:
    """The one line a second instance prints: who holds the exchange (from its status document, else
    from our lease beside it), and when it frees itself."""
    expires = f"; its key expires in {ttl_s} s unless it heartbeats" if raw and ttl_s and ttl_s > 0 else ""
    try:
        existing = InstanceStatus.model_validate_json(raw) if raw else None
    except ValidationError:
        existing = None
    if existing is not None:
        who = f"{existing.hostname} (state {existing.connection_state}, last heartbeat {existing.last_heartbeat})"
    elif raw:
        who = "an instance whose status document this service cannot read"
    else:
        who = holder.describe() if holder else "another instance"
    return f"exchange {exchange} is already served by {who}{expires}: one instance per exchange; stop that one first"


async def instance_health(redis: RedisClient, exchange_id: int) -> dict[str, object] | None:
    """What a probe should know of the exchange's instance, whoever wrote it: its state, host, last
    heartbeat and seconds left to live; None when no instance has a key (offline in the original's
    admin)."""
    key = instance_status_key(exchange_id)
    raw, ttl_s = await redis.get(key), await redis.ttl(key)
    if raw is None:
        return None
    try:
        doc = InstanceStatus.model_validate_json(raw)
    except ValidationError:
        return {"connectionState": None, "error": "unreadable status document", "ttlS": ttl_s}
    fields = {"connection_state", "hostname", "last_heartbeat", "last_error"}
    return {**doc.model_dump(by_alias=True, mode="json", include=fields), "ttlS": ttl_s}


class InstancePresence:
    """Writes the status key while this instance serves: `async with` registers it (or raises
    InstanceAlreadyServing), heartbeats it, follows the warmup's runs, and writes stopping/stopped
    on the way out."""

    def __init__(
        self,
        redis: RedisClient,
        identity: InstanceIdentity,
        count_symbols: Callable[[], Awaitable[int]],
        *,
        ttl_s: int,
        heartbeat_s: float,
        clock: Callable[[], int] = now_ms,
    ):
        self.redis = redis
        self.identity = identity
        self.count_symbols = count_symbols
        self.ttl_s = ttl_s
        self.heartbeat_s = heartbeat_s
        self.clock = clock
        self.key = instance_status_key(identity.exchange_id)
        self.lease = LeaseLock(redis, instance_lease_key(identity.exchange_id), ttl_s=ttl_s, clock=clock)
        self.halted = False  # stopped by the `stop` command: no heartbeat until `wake`
        self.heartbeats = 0  # refreshes written, for tests and logs
        self.history: list[ConnectionState] = []  # the states entered, in order
        self._status: InstanceStatus | None = None
        self._since_ms = 0
        self._write = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def status(self) -> InstanceStatus:
        if self._status is None:
            raise RuntimeError("the instance is not registered")
        return self._status

    async def __aenter__(self) -> InstancePresence:
        await self.register()
        self._tasks = [asyncio.create_task(self._heartbeat()), asyncio.create_task(self._follow())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await _end(self._tasks)
        with contextlib.suppress(Exception):  # a Redis gone at shutdown leaves the key to expire
            await self.halt()
        await self.lease.__aexit__(None, None, None)

    @property
    def _exchange(self) -> str:
        return f"{self.identity.exchange_name} ({self.identity.exchange_id})"

    async def register(self) -> None:
        """Take the instance lease, then SET NX EX the document (the original's way). A `stopped` or
        `idle` document, or one whose writer's lease we took over as provably dead, is replaced; a
        live instance refuses with InstanceAlreadyServing."""
        try:
            await self.lease.__aenter__()
        except LockHeldError as e:
            raw, ttl = await self.redis.get(self.key), await self.redis.ttl(self.key)
            raise InstanceAlreadyServing(refusal(self._exchange, raw, ttl, e.holder)) from None
        try:
            self._since_ms = self.clock()
            self._status = self.identity.status("starting", await self.count_symbols(), self._since_ms)
            await self._claim(dead_writer=self.lease.took_over is not None)
        except BaseException:
            await self.lease.__aexit__(None, None, None)
            raise
        self.history.append("starting")

    async def _claim(self, *, dead_writer: bool) -> None:
        """Write our document where none is, or over a clean shutdown's (or a dead writer's), in one
        script; a live instance's document refuses."""
        payload = self.status.to_json()
        if await self.redis.set(self.key, payload, nx=True, ex=self.ttl_s):
            return
        held = await self.redis.eval(_TAKE_OVER, 1, self.key, payload, self.ttl_s, int(dead_writer))
        if held:
            raw, ttl = held
            raise InstanceAlreadyServing(refusal(self._exchange, raw, int(ttl)))

    async def halt(self) -> None:
        """`stopping`, then `stopped`, and no heartbeat until `wake`: the document expires, as the
        original's does after its `stop`, while this process still answers commands."""
        self.halted = True
        if self.status.connection_state not in ("stopping", "stopped"):
            await self.set_state("stopping")
        if self.status.connection_state != "stopped":
            await self.set_state("stopped")

    async def wake(self) -> None:
        """A `start` after `stop`: `starting` again (the document may have expired meanwhile; an
        original's instance that registered since refuses), heartbeats resume."""
        if not self.halted:
            return
        self._since_ms = self.clock()
        self.status.symbol_count = await self.count_symbols()
        self.status.move("starting", self._since_ms)
        await self._claim(dead_writer=False)
        self.halted = False
        self.history.append("starting")

    async def set_state(self, state: ConnectionState, error: str | None = None) -> None:
        """Enter `state` and write it at once (keeping the key's TTL fresh)."""
        self.status.move(state, self.clock(), error)
        self.history.append(state)
        log.info("instance %s: %s%s", self.key, state, f" ({error})" if error else "")
        await self._save()

    async def beat(self) -> None:
        """One heartbeat: the symbol count and lastHeartbeat refreshed, SET XX EX; a key that
        vanished (Redis restarted, someone deleted it) is written again with NX."""
        self.status.symbol_count = await self.count_symbols()
        self.status.last_heartbeat = iso(self.clock())
        await self._save()
        self.heartbeats += 1

    async def _save(self) -> None:
        async with self._write:
            payload = self.status.to_json()
            if not await self.redis.set(self.key, payload, xx=True, ex=self.ttl_s) and not await self.redis.set(
                self.key, payload, nx=True, ex=self.ttl_s
            ):
                log.warning("instance status key %s changed hands while this instance wrote it", self.key)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if self.halted:
                continue
            try:
                await self.beat()
            except Exception as e:  # a Redis hiccup: the next beat tries again before the TTL runs out
                unless_cancelled()
                log.warning("instance heartbeat failed: %s", e)

    async def _follow(self) -> None:
        """Move with the warmup's runs, as their stats events say."""
        store = WarmupStore(self.redis)
        backoff = Backoff()
        while True:
            try:
                async for raw in store.stats_events(self.identity.exchange_id):
                    backoff.reset()
                    if raw:
                        await self.follow(WarmupStats.model_validate_json(raw))
            except Exception as e:  # Redis went away: follow again once it is back
                unless_cancelled()
                log.warning("instance status lost the warmup's events: %s", e)
                await backoff.sleep()

    async def follow(self, stats: WarmupStats) -> None:
        """Move as this stats update of a warmup says (see `follow_run`)."""
        if (change := follow_run(self.status.connection_state, stats, self._since_ms)) is not None:
            await self.set_state(*change)


async def _end(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel until done, then say how a task that failed on its own ended."""
    await cancel_until_done(tasks)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.warning("instance status task ended: %s", task.exception())
