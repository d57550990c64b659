"""WarmupStats: the one model of a run, live while it goes and its report when it ends.

Its JSON is the original's stats document (`exchange:<id>:warm-up-schedule:stats`, which the
original's admin UI reads) with our counters after the original's fields. The CLI, the runner,
the metrics and the admin app all read this one typed model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from livermore.models import CamelModel

# The original's status values (its admin UI reads them); a run that did not complete is `error`.
Status = Literal["scanning", "fetching", "touching_up", "complete", "error"]
RUNNING: frozenset[Status] = frozenset({"scanning", "fetching", "touching_up"})

# What happened, set when a run ends (None while it runs): ours, for the CLI, page and metrics.
Outcome = Literal["complete", "cancelled", "interrupted", "banned", "exchange_unreachable", "failed"]


class Failure(CamelModel):
    symbol: str
    timeframe: str
    error: str


# The counters a worker's share adds into the run's (WarmupStats has the same fields).
SUMMED = ("completed_pairs", "failed_pairs", "candles_written", "rest_calls", "weight_used", "throttled")


class WorkerShare(CamelModel):
    """One `livermore worker`'s share of a run, as the run's stats show it per worker; `reclaimed`:
    entries it took over from a worker that died holding them."""

    completed_pairs: int = 0
    failed_pairs: int = 0
    candles_written: int = 0
    rest_calls: int = 0
    weight_used: int = 0
    throttled: int = 0
    reclaimed: int = 0

    @property
    def done_pairs(self) -> int:
        return self.completed_pairs + self.failed_pairs


class WorkerTally(WorkerShare):
    """What a worker reports of a run (`run`: the run's startedAt) in the workers hash: its share
    and its failures, which the run's stats take in."""

    run: int
    failures: list[Failure] = Field(default_factory=list)

    def add(self, stats: WarmupStats, reclaimed: int = 0) -> WorkerTally:
        """This tally with one more pass of the worker's drain (and what it reclaimed) counted in."""
        counted = {name: getattr(self, name) + getattr(stats, name) for name in SUMMED}
        failures = [*self.failures, *stats.failures]
        return self.model_copy(update={**counted, "reclaimed": self.reclaimed + reclaimed, "failures": failures})


class WarmupStats(CamelModel):
    """The original's fields, then ours (`restCalls` .. `message`)."""

    exchange_id: int
    status: Status = "scanning"
    mode: str = "smart"
    started_at: int
    updated_at: int
    total_symbols: int = 0
    total_pairs: int = 0  # pairs scheduled for fetching
    completed_pairs: int = 0
    skipped_pairs: int = 0  # pairs the scan found sufficient
    failed_pairs: int = 0
    percent_complete: int = 0
    eta_ms: int | None = None
    touch_up_pairs: int = 0  # pairs fetched again because they aged while the run went on
    current_symbol: str | None = None
    current_timeframe: str | None = None
    failures: list[Failure] = Field(default_factory=list)
    rest_calls: int = 0
    weight_used: int = 0
    candles_written: int = 0
    throttled: int = 0
    banned: int = 0
    retries: int = 0
    duration_ms: int = 0
    policy: str = "smart"
    outcome: Outcome | None = None
    message: str | None = None
    workers: dict[str, WorkerShare] = Field(default_factory=dict)  # `livermore worker` processes' shares

    @property
    def running(self) -> bool:
        return self.status in RUNNING

    def end(self, outcome: Outcome, message: str | None = None) -> None:
        """The run is over: the original's status says complete or error, `outcome` says which end."""
        self.status = "complete" if outcome == "complete" else "error"
        self.outcome = outcome
        self.message = message
        self.current_symbol = self.current_timeframe = None

    @property
    def scanned_pairs(self) -> int:
        """Every pair the run looked at: scheduled plus sufficient."""
        return self.total_pairs + self.skipped_pairs

    @property
    def done_pairs(self) -> int:
        return self.completed_pairs + self.failed_pairs

    def with_workers(self, tallies: dict[str, WorkerTally]) -> WarmupStats:
        """The run as a whole: this process's counts plus the workers' (their failures included),
        each worker's share listed."""
        merged = self.model_copy(deep=True)
        for name, tally in tallies.items():
            for field in SUMMED:
                setattr(merged, field, getattr(merged, field) + getattr(tally, field))
            merged.failures.extend(tally.failures)
            merged.workers[name] = WorkerShare.model_validate(tally.model_dump(include=set(WorkerShare.model_fields)))
        return merged

    def count_requests(self, metrics: Mapping[str, int], at_start: Mapping[str, int]) -> None:
        """Take the adapter's counters (`AdapterMetrics.as_dict()`) less their values `at_start`:
        what this run sent, whatever else the adapter sent before or beside it."""
        sent = {name: metrics[name] - at_start[name] for name in metrics}
        self.rest_calls, self.weight_used = sent["requests"], sent["weight_used"]
        self.retries, self.throttled, self.banned = sent["retries"], sent["throttled"], sent["banned"]

    def record_failure(self, symbol: str, timeframe: str, error: BaseException) -> None:
        self.failed_pairs += 1
        self.failures.append(Failure(symbol=symbol, timeframe=timeframe, error=str(error) or type(error).__name__))

    def progress(self, fetch_started_ms: int, now: int) -> None:
        """Recompute percent and ETA from the observed rate (the original's formulas)."""
        done = self.done_pairs
        if self.total_pairs:
            self.percent_complete = round(done / self.total_pairs * 100)
        else:  # nothing to fetch: done once the schedule exists, nothing yet while scanning
            self.percent_complete = 0 if self.status == "scanning" else 100
        elapsed = now - fetch_started_ms
        remaining = self.total_pairs - done
        self.eta_ms = round(remaining * elapsed / done) if done and elapsed > 0 else None
