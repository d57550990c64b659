"""Ending background tasks that read Redis pub/sub, whose cancels redis-py may blur.

redis-py may turn a cancel that lands in a timed read into a TimeoutError, or swallow one that lands
in a read or in a pub/sub's close: a task that catches errors to keep going (a heartbeat, a
resubscribing event hub) must tell the two apart, and whoever ends it must cancel until it is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any


def unless_cancelled() -> None:
    """Re-raise as a cancellation when the task is being cancelled: a TimeoutError that was a
    cancel must not keep a task alive past its end."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def cancel_until_done(tasks: Sequence[asyncio.Task[Any]]) -> None:
    """Cancel until every task is done: one lost cancel must not hang a shutdown."""
    while pending := [t for t in tasks if not t.done()]:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=0.1)
