"""`livermore ...` in a process of its own, as an operator or a supervisor starts it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from asyncio.subprocess import DEVNULL, Process


async def livermore(*args: str, env: dict[str, str | None] | None = None, stdout: int = DEVNULL) -> Process:
    """Start `python -m livermore ARGS` with this environment changed by `env` (None unsets a
    variable); stderr is dropped."""
    changed = {**os.environ, **(env or {})}
    environ = {k: v for k, v in changed.items() if v is not None}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livermore", *args, env=environ, stdout=stdout, stderr=DEVNULL
    )


async def terminated(proc: Process) -> int:
    """SIGTERM, as a supervisor stops a service; its exit code (within 30 s)."""
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        return await proc.wait()


async def reaped(proc: Process) -> None:
    """Killed if still running, and waited for: a failed test leaves no process behind."""
    if proc.returncode is None:
        proc.kill()
        await proc.wait()
