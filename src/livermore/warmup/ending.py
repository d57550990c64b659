"""How a run (a warmup, a backfill) ends early, and what it then says: one rule for every drain."""

from __future__ import annotations

import asyncio

from livermore.warmup.drain import Drain
from livermore.warmup.outage import RedisOutage
from livermore.warmup.stats import Outcome, WarmupStats


class StopRequest:
    """Why a run should end early, asked once by whoever may stop it (an operator's cancel, a
    signal, the service shutting down); the drain looks at it before every claim."""

    def __init__(self) -> None:
        self.outcome: Outcome | None = None
        self.message: str | None = None
        self.requested = asyncio.Event()

    def request(self, outcome: Outcome, message: str) -> None:
        """The first request wins: a shutdown after a cancel does not rewrite why the run stopped."""
        if self.outcome is None:
            self.outcome, self.message = outcome, message
            self.requested.set()


def counted_outcome(stats: WarmupStats) -> tuple[Outcome, str | None]:
    """A run that went to its end: complete, or failed when some pairs failed."""
    if stats.failed_pairs:
        return "failed", f"{stats.failed_pairs} of {stats.total_pairs} pairs failed; the next run retries them"
    return "complete", None


def early_stop(
    drain: Drain, stop: StopRequest, lost: asyncio.Event, outage: RedisOutage, left: str
) -> tuple[Outcome, str] | None:
    """Why a drain stopped before its queue was empty, if it did (the first reason that holds), with
    `left` saying what remains: a ban, Redis away past its limit, a lost lease, a stop request."""
    if drain.banned is not None:
        return "banned", f"stopped: {drain.banned}; {left}"
    if outage.gave_up.is_set():
        return "interrupted", f"Redis was unreachable for over {outage.limit_s:.0f} s; {left}"
    if lost.is_set():
        return "interrupted", f"the lease was lost (Redis restarted?); {left}"
    if stop.outcome is not None:
        return stop.outcome, f"{stop.message}; {left}"
    return None
