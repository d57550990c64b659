"""`livermore ...` in a process of its own, as an operator or a supervisor starts it."""

from __future__ import annotations

import asyncio
import os
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
