"""The fault suite's harness (bench/reliability.py): each scenario's own redis-server (AOF on) and
simulator, `livermore` processes started as an operator starts them, and the measures a scenario
takes of them: the warmup stats, control replies, the cache's invariants, RSS.

Nothing here assumes the service survives a fault: a process that dies, a reply that never comes or
stats that never end are measured (None, a count, a reason), never waited for past a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import requests
import schemathesis
from redis.asyncio import Redis
from redis.exceptions import RedisError
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

import livermore
from livermore.control.client import ControlClient
from livermore.control.protocol import Response
from livermore.embedded import RedisServer, free_port
from livermore.models import Timeframe, now_ms
from livermore.simulator import RunningSimulator, SimulatorConfig, serve_simulator
from livermore.warmup import WarmupStats
from livermore.warmup.store import WarmupStore
from tests.support.cache_audit import CacheAudit, audit
from tests.support.control_fuzz import sample

BINANCE = 2
SRC = Path(livermore.__file__).resolve().parents[1]  # the processes run the very code the harness imports
POLL_S = 0.02


class Broke(Exception):
    """The service under test failed in a way that ends the scenario; the message says how."""


@dataclass
class Proc:
    """A `livermore` process; its stderr goes to `log` (the last line says why it exited)."""

    process: asyncio.subprocess.Process
    log: Path

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill9(self) -> None:
        if self.alive:
            self.process.kill()

    async def ended(self, timeout_s: float) -> int | None:
        """The exit code once it exits within `timeout_s`, else None (still running)."""
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(self.process.wait(), timeout_s)
        return None

    async def stop(self) -> int | None:
        """SIGTERM, as a supervisor stops it; its exit code (None: it had to be killed)."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
        code = await self.ended(30)
        if code is None:
            self.kill9()
            await self.process.wait()
        return code

    def last_words(self) -> str:
        lines = [line for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1].strip()[:200] if lines else "(nothing on stderr)"

    def rss_kb(self) -> int:
        """VmRSS of the process, in kB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise Broke(f"no VmRSS for pid {self.pid}")


@dataclass
class Stack:
    """One scenario's servers and processes."""

    server: RedisServer
    redis: Redis
    sim: RunningSimulator
    workdir: Path
    procs: list[Proc] = field(default_factory=list)

    def symbols(self, n: int) -> list[str]:
        return sorted(self.sim.simulator.listings)[:n]

    async def livermore(self, *args: str, env: dict[str, str] | None = None) -> Proc:
        log = self.workdir / f"{args[0]}-{len(self.procs)}.log"
        environ = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "livermore", *args, env=environ, stdout=asyncio.subprocess.DEVNULL, stderr=stderr
            )
        proc = Proc(process, log)
        self.procs.append(proc)
        return proc

    def _common(self, symbols: Sequence[str], timeframes: Sequence[Timeframe]) -> tuple[str, ...]:
        return (
            *("--redis-url", self.server.url, "--base-url", self.sim.base_url),
            *("--symbols", ",".join(symbols), "--timeframes", ",".join(tf.value for tf in timeframes)),
        )

    async def warmup(
        self, symbols: Sequence[str], timeframes: Sequence[Timeframe], *more: str, env: dict[str, str] | None = None
    ) -> Proc:
        return await self.livermore("warmup", *self._common(symbols, timeframes), *more, env=env)

    async def serve(
        self,
        symbols: Sequence[str],
        timeframes: Sequence[Timeframe],
        *,
        autostart: bool = False,
        env: dict[str, str] | None = None,
    ) -> Served:
        """`livermore serve`, once its admin app answers; Broke if it does not come up."""
        port, token, sub = free_port(), uuid.uuid4().hex, f"rel{uuid.uuid4().hex[:8]}"
        args = ("serve", *self._common(symbols, timeframes), "--port", str(port), "--sub", sub)
        proc = await self.livermore(
            *args, *(["--autostart"] if autostart else []), env={**(env or {}), "LIVERMORE_ADMIN_TOKEN": token}
        )
        served = Served(self, proc, f"http://127.0.0.1:{port}", token, sub)
        await served.up(timeout_s=30)
        return served

    async def restart_redis(self, down_s: float) -> None:
        """SIGKILL redis-server, as a crash does, and start it again on its port and AOF after `down_s`."""
        self.server.kill()
        await asyncio.sleep(down_s)
        await asyncio.to_thread(self.server.start)
        await self.redis.connection_pool.disconnect()  # the harness's own connections died with it

    async def stats(self, exchange_id: int = BINANCE) -> WarmupStats | None:
        """The warmup stats as a reader sees them (None too while Redis is away)."""
        try:
            return await WarmupStore(self.redis).load_stats(exchange_id)
        except RedisError:
            return None

    async def wait_stats(
        self,
        until: Callable[[WarmupStats], bool],
        timeout_s: float,
        proc: Proc | None = None,
        exchange_id: int = BINANCE,
    ) -> WarmupStats | None:
        """The stats once `until` holds; else, after `timeout_s` or once `proc` exited (with a moment
        for its last write), the stats as they are then (check `until` again)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        exited_at: float | None = None
        while True:
            stats = await self.stats(exchange_id)
            now = asyncio.get_running_loop().time()
            if stats is not None and until(stats):
                return stats
            if proc is not None and not proc.alive and exited_at is None:
                exited_at = now
            if now > deadline or (exited_at is not None and now - exited_at > 1.0):
                return stats
            await asyncio.sleep(POLL_S)

    async def audit(
        self,
        symbols: Sequence[str],
        timeframes: Sequence[Timeframe],
        at_ms: int | None = None,
        exchange_id: int = BINANCE,
    ) -> CacheAudit:
        return await audit(self.redis, exchange_id, symbols, timeframes, at_ms=at_ms)


@dataclass
class Served:
    """A running `livermore serve`: its admin app at `url`, its control channel on `sub`; counts the
    commands it left without a final reply."""

    stack: Stack
    proc: Proc
    url: str
    token: str
    sub: str
    unanswered: int = 0

    async def up(self, timeout_s: float) -> None:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(int(timeout_s / 0.1)):
                if not self.proc.alive:
                    raise Broke(f"serve exited at boot with {self.proc.process.returncode}: {self.proc.last_words()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise Broke(f"serve did not answer /healthz within {timeout_s:g} s")

    async def ask(
        self, command_type: str, payload: dict[str, Any] | None = None, timeout_s: float = 30
    ) -> Response | None:
        """Send one command; its final reply, or None (counted unanswered) when none comes in
        `timeout_s`, serve has exited or Redis refuses."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        try:
            async with ControlClient(self.stack.redis, self.sub) as client:
                cid = await client.send(command_type, payload)
                while self.proc.alive and asyncio.get_running_loop().time() < deadline:
                    with contextlib.suppress(TimeoutError):
                        return (await client.wait_for(cid, timeout=0.5))[-1]
        except RedisError:
            pass
        self.unanswered += 1
        return None

    async def warm(self, timeout_s: float) -> WarmupStats | None:
        """`start`, then the run's final stats; None when the start is not answered `started`, or
        the run does not end within `timeout_s` (or serve exits first)."""
        since = now_ms()
        reply = await self.ask("start")
        if reply is None or not isinstance(reply.data, dict) or reply.data.get("status") != "started":
            return None

        def ended(stats: WarmupStats) -> bool:
            return stats.started_at >= since and not stats.running

        stats = await self.stack.wait_stats(ended, timeout_s, self.proc)
        return stats if stats is not None and ended(stats) else None


@contextlib.asynccontextmanager
async def stack(config: SimulatorConfig) -> AsyncIterator[Stack]:
    """A fresh redis-server (AOF) and simulator; every process started on them is killed on the way out."""
    server = RedisServer(appendonly=True)
    await asyncio.to_thread(server.start)
    try:
        with tempfile.TemporaryDirectory(prefix="livermore-rel-") as workdir:
            async with Redis.from_url(server.url) as redis, serve_simulator(config) as sim:
                s = Stack(server, redis, sim, Path(workdir))
                try:
                    yield s
                finally:
                    for proc in s.procs:
                        proc.kill9()
                    await asyncio.gather(*(p.process.wait() for p in s.procs))
    finally:
        await asyncio.to_thread(server.stop)


@contextlib.asynccontextmanager
async def bursts_of_429(sim: RunningSimulator, every_s: float, size: int) -> AsyncIterator[None]:
    """Every `every_s` (once the last burst is spent), the simulator's `force_429` fault: its next
    `size` requests that the rate rule admits get 429. Each is a burst: the requests already on their
    way get 429 too, and the client pauses for the Retry-After before it sends the next one."""

    async def burst() -> None:
        while True:
            await asyncio.sleep(every_s)
            if sim.simulator.faults.force_429 == 0:
                sim.simulator.set_faults(force_429=size)

    task = asyncio.create_task(burst())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@dataclass
class HttpTally:
    """What a fuzz of the admin API got back: statuses, requests that got no answer, and the
    operations hypothesis could draw nothing for."""

    statuses: Counter[int] = field(default_factory=Counter)
    unanswered: list[str] = field(default_factory=list)
    undrawable: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def summary(self) -> str:
        statuses = ", ".join(f"{n} x {status}" for status, n in sorted(self.statuses.items()))
        return f"{self.statuses.total()} requests ({statuses}), {len(self.unanswered)} unanswered"


def fuzz_openapi(base_url: str, token: str | None, examples: int, exchange_id: int = BINANCE) -> HttpTally:
    """Schemathesis's cases for every operation of the admin app's OpenAPI document (positive and
    negative), sent with the bearer token or without; blocking (run it in a thread). The event
    stream is left out: it answers by never ending."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json").exclude(path_regex=r"/events$")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    tally = HttpTally()
    # Valid cases name the served exchange, or nearly all of them would stop at its 404.
    pinned = {GenerationMode.POSITIVE: {"exchange_id": exchange_id}}
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            tally.undrawable.append(f"an operation the document gets wrong: {result.err()}")
            continue
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategy = operation.as_strategy(generation_mode=mode, path_parameters=pinned.get(mode))
                cases = sample(strategy, examples)
            except Exception as e:  # e.g. nothing negative to draw for an operation without input
                tally.undrawable.append(f"{operation.label} {mode.value}: {type(e).__name__}")
                continue
            for case in cases:
                try:
                    tally.statuses[case.call(base_url=base_url, headers=headers, timeout=10).status_code] += 1
                except requests.RequestException as e:
                    tally.unanswered.append(f"{operation.label}: {type(e).__name__}")
    return tally
