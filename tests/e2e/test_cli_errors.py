"""Every ordinary mistake an operator makes answers one `error:` line and the documented exit code,
never a traceback: each command runs as a process of its own, as an operator starts it."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from asyncio.subprocess import PIPE
from collections.abc import Iterator

import pytest

from livermore.embedded import RedisServer, free_port


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something already listens on."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock.getsockname()[1]


async def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livermore", *args, env={**os.environ, **(env or {})}, stdout=PIPE, stderr=PIPE
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


NO_RETRIES = {"LIVERMORE_MAX_RETRIES": "0"}
CASES: list[tuple[list[str], dict[str, str] | None, int, str]] = [
    (["send", "status", "--redis-url", "{dead}"], None, 1, "Redis is unreachable"),
    (["send", "start", "--redis-url", "{redis}", "--payload", "[1]"], None, 1, "--payload must be a JSON object"),
    (["send", "start", "--redis-url", "{redis}", "--payload", "{nope"], None, 1, "--payload is not JSON"),
    (["send", "status", "--redis-url", "{redis}", "--sub", "nobody", "--timeout", "0.5"], None, 1, "no reply within"),
    (["send", "status", "--exchange", "kraken"], None, 1, "unknown exchange 'kraken'"),
    (["serve", "--redis-url", "{dead}", "--port", "0"], None, 1, "Redis is unreachable"),
    (["serve", "--exchange", "kraken"], None, 1, "unknown exchange 'kraken'"),
    (["serve", "--redis-url", "{redis}", "--port", "{busy}"], None, 1, "cannot listen on 127.0.0.1:"),
    (["serve", "--redis-url", "{redis}", "--timeframes", "7m", "--port", "0"], None, 1, "unknown timeframe '7m'"),
    (
        ["serve", "--redis-url", "{redis}", "--base-url", "{nowhere}", "--port", "0", "--top", "3"],
        NO_RETRIES,
        1,
        "GET /api/v3/exchangeInfo failed",
    ),
    (
        ["warmup", "--redis-url", "{redis}", "--base-url", "{nowhere}", "--symbols", "BTCUSDT"],
        NO_RETRIES,
        5,
        "exchange_unreachable: ",
    ),
    (["warmup", "--exchange", "kraken", "--symbols", "X"], None, 1, "unknown exchange 'kraken'"),
    (["simulator", "--latency-ms", "50"], None, 1, "--latency-ms takes MIN,MAX"),
    (["simulator", "--exchange", "kraken"], None, 1, "unknown simulated exchange 'kraken'"),
    (["simulator", "--fault-rate", "2"], None, 1, "--fault-rate: "),
    (["simulator", "--port", "{busy}"], None, 1, "cannot listen on 127.0.0.1:"),
    (["status", "--redis-url", "{dead}"], None, 1, "Redis is unreachable"),
    (["worker", "--redis-url", "{dead}"], None, 1, "Redis is unreachable"),
    (["worker", "--exchange", "kraken"], None, 1, "unknown exchange 'kraken'"),
    (["status", "--exchange", "kraken"], None, 1, "unknown exchange 'kraken'"),
    (["scan", "--symbols", "A", "--redis-url", "{dead}"], None, 1, "Redis is unreachable"),
    (["schedule", "--exchange", "kraken", "--symbols", "A"], None, 1, "unknown exchange 'kraken'"),
    (["scan", "--symbols", "A"], {"LIVERMORE_MAX_RETRIES": "many"}, 1, "LIVERMORE_MAX_RETRIES: "),
    # usage mistakes: exit 1 like any bad input (click's own 2 would read as a warmup's `failed`)
    (["scan", "--bogus"], None, 1, "No such option: --bogus"),
    (["warmup", "--symbols"], None, 1, "Option '--symbols' requires an argument"),
    (["send", "start", "--timeout", "soon"], None, 1, "Invalid value for '--timeout'"),
    (["frobnicate"], None, 1, "No such command 'frobnicate'"),
]


@pytest.mark.parametrize(("args", "env", "code", "message"), CASES, ids=lambda v: None)
async def test_a_mistake_is_one_line_and_a_documented_exit_code(
    redis_server: RedisServer, busy_port: int, args: list[str], env: dict[str, str] | None, code: int, message: str
) -> None:
    places = {
        "{redis}": redis_server.url,
        "{dead}": f"redis://127.0.0.1:{free_port()}/0",
        "{nowhere}": f"http://127.0.0.1:{free_port()}",
        "{busy}": str(busy_port),
    }
    argv = [places.get(a, a) for a in args]
    returncode, out, err = await run(*argv, env={"LIVERMORE_ADMIN_TOKEN": "t", **(env or {})})
    assert "Traceback" not in out + err
    assert returncode == code, err
    # `serve` logs on stderr too; whatever else is there, the mistake is said in exactly one line
    said = [line for line in err.splitlines() if message in line]
    assert len(said) == 1, err
    if args[0] != "serve":
        assert err.strip() == said[0]
