"""A private redis-server on a free loopback port: for tests (throwaway) and the demo (persistent);
and a private 3-master Redis Cluster of them, for the tests and the bench that must also pass there."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

_PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now, from the 10,000 just below the kernel's
    ephemeral range: a port from that range (what binding port 0 gives) can be taken by some
    outgoing connection between this check and the server's own bind, which then fails."""
    ephemeral_low = int(_PORT_RANGE.read_text().split()[0]) if _PORT_RANGE.exists() else 32768
    for _ in range(200):
        port = random.randrange(max(1024, ephemeral_low - 10_000), ephemeral_low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port below the ephemeral range")


class RedisServer:
    """Starts `redis-server` in `directory` (a temp dir if None) and stops it on `stop()`.

    Only this process's own server is ever touched: the port is chosen free, the bind is loopback.
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        appendonly: bool = False,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
    ):
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory:
            self.directory = Path(directory)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="livermore-redis-")
            self.directory = Path(self._tmp.name)
        self.appendonly = appendonly
        self.port = port or free_port()
        self.extra_args = extra_args
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--logfile",
            "redis.log",
            *self.extra_args,
        ]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                if self._proc is not None and self._proc.poll() is not None:
                    log = self.directory / "redis.log"
                    tail = log.read_text()[-500:] if log.exists() else ""
                    raise RuntimeError(f"redis-server exited with {self._proc.returncode}: {tail}")
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not answer PING in {timeout_s}s")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM and wait: with AOF on, Redis fsyncs before it exits."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill does: Redis writes nothing more (with AOF, what it had
        already written is what a `start()` on the same port and directory loads back)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisClusterServers:
    """A Redis Cluster of `masters` private redis-servers (no replicas) on free loopback ports, each in
    its own temp dir with its own cluster config file; `start()` returns once every node says
    `cluster_state:ok`, so the first command of a test never meets a half-formed cluster.

    `url` names the first node with the `redis+cluster://` scheme, which is how the service is told
    to use its cluster client (`livermore.service.redis_client`); `nodes` are the servers, for
    whatever must visit each master (FLUSHALL between tests).
    """

    def __init__(self, masters: int = 3, *, appendonly: bool = False):
        self.nodes = [RedisServer(appendonly=appendonly, extra_args=_cluster_args()) for _ in range(masters)]

    @property
    def url(self) -> str:
        """The first node's address: the client finds the others from it."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}/0"

    def start(self, timeout_s: float = 20.0) -> RedisClusterServers:
        try:
            for node in self.nodes:
                node.start()
            self._create(timeout_s)
            self._wait_ok(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _create(self, timeout_s: float) -> None:
        binary = shutil.which("redis-cli")
        if binary is None:
            raise RuntimeError("redis-cli is not installed (apt-get install redis-tools)")
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        args = [binary, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"]
        done = subprocess.run(args, capture_output=True, timeout=timeout_s, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout[-500:]!r} {done.stderr[-500:]!r}")

    def _wait_ok(self, timeout_s: float) -> None:
        """Until every node has heard of all slots being served (the gossip takes a moment)."""
        clients = [redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=0.5) for node in self.nodes]
        deadline = time.monotonic() + timeout_s
        try:
            while not all(c.cluster("INFO").get("cluster_state") == "ok" for c in clients):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the cluster did not reach cluster_state:ok in {timeout_s}s")
                time.sleep(0.05)
        finally:
            for c in clients:
                c.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> RedisClusterServers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _cluster_args() -> tuple[str, ...]:
    """A cluster node's flags. Its bus port is chosen free too (`--cluster-port`, Redis 7): the
    default, the client port + 10000, is taken or past 65535 for many free ports."""
    return ("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", str(free_port()))
