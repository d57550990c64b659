"""LeaseLock against real Redis: a provably dead holder is taken over at once, any other is waited
for (up to wait_s) or refused, and renew/release only ever touch our own value."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from asyncio.subprocess import PIPE

import pytest
from redis.asyncio import Redis

from livermore.embedded import RedisServer
from livermore.keys import warmup_lock_key
from livermore.warmup.lock import LeaseHolder, LeaseLock, LockHeldError, WaitSink, lease_holder, pid_namespace

KEY = warmup_lock_key(2)
HOST = socket.gethostname()
NS = pid_namespace()


async def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await proc.wait()
    return proc.pid


async def put(redis: Redis, holder: LeaseHolder, px: int) -> None:
    assert await redis.set(KEY, holder.to_json(), nx=True, px=px)


def waits() -> tuple[list[tuple[LeaseHolder, float]], WaitSink]:
    """An on_wait that records its calls."""
    calls: list[tuple[LeaseHolder, float]] = []
    return calls, lambda holder, remaining_s: calls.append((holder, remaining_s))


async def test_a_dead_holder_on_our_host_is_taken_over_at_once(redis: Redis, caplog: pytest.LogCaptureFixture) -> None:
    pid = await dead_pid()
    await put(redis, LeaseHolder("theirs", HOST, pid, 0, NS), px=30_000)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="livermore.warmup.lock"):
        async with LeaseLock(redis, KEY, ttl_s=30) as lease:
            assert time.monotonic() - started < 0.5
            ours = await lease_holder(redis, KEY)
            assert ours == lease.holder and ours is not None
            assert (ours.token, ours.host, ours.pid) == (lease.token, HOST, os.getpid())
            assert 29_000 < await redis.pttl(KEY) <= 30_000
    assert f"took over the lease of {KEY} from dead pid {pid}" in caplog.text
    assert await lease_holder(redis, KEY) is None  # released as usual


async def test_a_live_holder_is_refused_without_waiting(redis: Redis) -> None:
    live = LeaseHolder("theirs", HOST, os.getppid(), 0, NS)  # pytest's parent: alive, and not us
    await put(redis, live, px=30_000)
    calls, on_wait = waits()
    started = time.monotonic()
    with pytest.raises(LockHeldError, match=f"pid {os.getppid()} on {HOST}") as err:
        await LeaseLock(redis, KEY, ttl_s=30, on_wait=on_wait).__aenter__()
    assert err.value.holder == live and calls == []
    assert time.monotonic() - started < 0.2
    assert await lease_holder(redis, KEY) == live


async def test_a_live_holder_is_waited_for_and_the_lease_taken_when_it_expires(redis: Redis) -> None:
    live = LeaseHolder("theirs", HOST, os.getppid(), 0, NS)
    await put(redis, live, px=300)
    calls, on_wait = waits()
    started = time.monotonic()
    async with LeaseLock(redis, KEY, ttl_s=30, wait_s=1, on_wait=on_wait) as lease:
        assert 0.25 < time.monotonic() - started < 0.8  # as soon as it expired, not after wait_s
        assert await lease_holder(redis, KEY) == lease.holder
    assert len(calls) == 1
    assert calls[0][0] == live and 0.2 < calls[0][1] <= 0.3  # remaining_s: the lease's time to live


async def test_another_lease_of_this_process_is_alive_though_its_pid_is_ours(redis: Redis) -> None:
    async with LeaseLock(redis, KEY, ttl_s=30) as first:
        with pytest.raises(LockHeldError, match=f"pid {os.getpid()} on {HOST}"):
            await LeaseLock(redis, KEY, ttl_s=30).__aenter__()
        assert await lease_holder(redis, KEY) == first.holder


async def test_our_pid_with_a_token_no_lease_here_holds_is_taken_over(redis: Redis) -> None:
    """A container's service restarted after kill -9 gets its old pid back (often 1)."""
    await put(redis, LeaseHolder("earlier-process", HOST, os.getpid(), 0, NS), px=30_000)
    async with LeaseLock(redis, KEY, ttl_s=30) as lease:
        assert await lease_holder(redis, KEY) == lease.holder


async def test_a_holder_on_another_host_is_never_taken_over(redis: Redis) -> None:
    elsewhere = LeaseHolder("theirs", "another-host", await dead_pid(), 0, NS)  # its pid means nothing here
    await put(redis, elsewhere, px=30_000)
    with pytest.raises(LockHeldError, match="on another-host"):
        await LeaseLock(redis, KEY, ttl_s=30).__aenter__()
    calls, on_wait = waits()
    started = time.monotonic()
    with pytest.raises(LockHeldError) as err:
        await LeaseLock(redis, KEY, ttl_s=30, wait_s=0.2, on_wait=on_wait).__aenter__()
    assert 0.2 <= time.monotonic() - started < 0.5
    assert err.value.holder == elsewhere
    assert len(calls) == 1 and calls[0][0] == elsewhere and calls[0][1] == pytest.approx(0.2, abs=0.02)
    assert await lease_holder(redis, KEY) == elsewhere


async def test_a_legacy_plain_token_is_an_unknown_holder_and_never_taken_over(redis: Redis) -> None:
    assert await redis.set(KEY, "their-token", px=30_000)
    with pytest.raises(LockHeldError, match="unknown holder") as err:
        await LeaseLock(redis, KEY, ttl_s=30).__aenter__()
    assert err.value.holder == LeaseHolder("their-token")
    assert await redis.get(KEY) == b"their-token"


async def test_lease_holder_of_a_free_key_is_none(redis: Redis) -> None:
    assert await lease_holder(redis, KEY) is None


async def test_renewal_keeps_our_lease_and_renew_release_never_touch_another_value(redis: Redis) -> None:
    async with LeaseLock(redis, KEY, ttl_s=0.15) as lease:  # renewed every 50 ms
        await asyncio.sleep(0.3)  # twice its ttl
        assert await lease_holder(redis, KEY) == lease.holder and not lease.lost.is_set()
        other = LeaseHolder("theirs", "another-host", 1, 0).to_json()
        await redis.set(KEY, other, px=5_000)  # e.g. Redis lost ours and someone else took it
        await asyncio.wait_for(lease.lost.wait(), timeout=0.5)
        assert await redis.pttl(KEY) > 4_000  # the renewal did not shorten theirs
    assert await redis.get(KEY) == other.encode()  # nor did our release delete it


CHILD = """
import asyncio, sys
from livermore.service import redis_client
from livermore.warmup.lock import LeaseLock

async def main() -> None:
    async with LeaseLock(redis_client(sys.argv[1]), sys.argv[2], ttl_s=30):
        print("held", flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_after_kill_9_the_next_run_acquires_at_once(redis: Redis, redis_server: RedisServer) -> None:
    """The issue: a supervisor restarting the service right after `kill -9` must not be refused for
    the lease's ttl."""
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, redis_server.url, KEY, stdout=PIPE)
    try:
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), timeout=15) == b"held\n"
        held = await lease_holder(redis, KEY)
        assert held is not None and (held.host, held.pid) == (HOST, child.pid)
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert await redis.pttl(KEY) > 29_000  # its lease would block a plain SET NX for ~30 s
    started = time.monotonic()
    async with LeaseLock(redis, KEY, ttl_s=30) as lease:
        assert time.monotonic() - started < 0.5
        assert (await lease_holder(redis, KEY)) == lease.holder and lease.holder is not None
        assert lease.holder.pid == os.getpid()
