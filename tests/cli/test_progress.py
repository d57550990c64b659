"""The CLI's progress view as a log reads it (not a terminal): a line at each phase and every few
seconds, with done/total, pairs/s, weight against the budget and what a stalled run waits for."""

from __future__ import annotations

import io

from rich.console import Console

from livermore.cli.progress import PLAIN_EVERY_S, ProgressView
from livermore.exchanges.ratelimit import TokenBucket, WeightLimiter
from livermore.warmup import WarmupStats


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def stats(status: str, done: int = 0, total: int = 10) -> WarmupStats:
    s = WarmupStats(exchange_id=2, started_at=0, updated_at=0, status=status, total_pairs=total)  # type: ignore[arg-type]
    s.completed_pairs = done
    return s


def lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


async def test_a_log_gets_a_line_per_phase_and_every_few_seconds() -> None:
    out, clock, wall = io.StringIO(), Clock(), Clock(120.0)  # wall: 0 s into a 60 s window
    limiter = WeightLimiter(1000, 60, safety_margin=0.1, clock=wall)
    with ProgressView(Console(file=out, width=80), "warmup", limiter, clock=clock) as view:
        view.update(stats("scanning", total=0))
        view.update(stats("fetching"))
        assert lines(out) == [
            "warmup: scanning  0/0 pairs  weight 0/900 per 60s  skipped=0 rest_calls=0",
            "warmup: fetching  0/10 pairs  weight 0/900 per 60s  skipped=0 rest_calls=0",
        ]
        clock.t += 2
        view.update(stats("fetching", done=4))
        view.tick()
        assert len(lines(out)) == 2  # same phase, less than PLAIN_EVERY_S since the last line

        await limiter.acquire(900)  # the window's budget is spent: requests wait for the next one
        wall.t += 15
        clock.t += PLAIN_EVERY_S
        view.tick()
        assert lines(out)[-1] == (
            "warmup: fetching  4/10 pairs  0.6 pairs/s  weight 900/900 per 60s  "
            "waiting for the rate-limit window (45 s)  skipped=0 rest_calls=0"
        )


def test_a_rate_limited_exchange_shows_its_rate() -> None:
    out = io.StringIO()
    with ProgressView(Console(file=out, width=80), "warmup", TokenBucket(10, 15)) as view:
        view.update(stats("fetching"))
    assert "0/10 pairs  limit 10 req/s" in out.getvalue()
