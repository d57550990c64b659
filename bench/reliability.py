"""`make reliability`: the project's own fault suite, one table row per scenario.

Each scenario runs on its own redis-server (AOF on) and simulator, with `livermore serve` and
`livermore warmup` as real processes, injects its fault, and then measures from Redis itself:
candles lost (from pairs complete before the fault), members sharing an open time, holes the
exchange did not confirm, control commands left without a final reply, and 5xx from the admin app.
A row survives when the service came through (its scenario says what that means) with every count
at 0 and, where a run follows the fault, that run ends `complete` with every pair sufficient.

Sizes are scaled for a 2-core machine (the suite takes a few minutes; its budget is 15): each row
says its own. Figures go to bench/results/reliability.json.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from rich.console import Console
from rich.table import Table

from harness import BINANCE, Broke, Proc, Served, Stack, bursts_of_429, fuzz_openapi, stack
from livermore.control.client import ControlClient
from livermore.models import SCAN_TIMEFRAME_ORDER, Timeframe
from livermore.simulator import SimulatorConfig
from livermore.warmup import WarmupStats
from tests.support.cache_audit import CacheAudit
from tests.support.control_fuzz import calm, control_messages, missing_after, sample

TFS = list(SCAN_TIMEFRAME_ORDER)
FEW_TFS = [Timeframe.H1, Timeframe.M5]
SYMBOLS = 20  # x 6 timeframes: the serve and kill scenarios' 120 pairs
LATENCY = (40.0, 80.0)
ONE_AT_A_TIME = {"LIVERMORE_MAX_IN_FLIGHT": "1"}  # ~6 s for 120 pairs: room for faults mid-run
TWO_AT_A_TIME = {"LIVERMORE_MAX_IN_FLIGHT": "2"}
SOAK_SYMBOLS, SOAK_RUNS = 100, 5
SOAK_FAULTS = SimulatorConfig(
    symbols=SOAK_SYMBOLS,
    window_s=2,
    weight_limit=200,  # Binance's 6000 per minute, over 2 s windows
    latency_ms=(20.0, 60.0),
    error_rate=0.05,
    timeout_rate=0.01,
    malformed_rate=0.02,
    ban_s=10,
)
HTTP_TIMEOUT = {"LIVERMORE_HTTP_TIMEOUT_S": "2"}  # a hung request is given up after 2 s, then retried
BURST, BURST_EVERY_S = 2, 5
KILLS = 5
FUZZ_MESSAGES = 600
PAIRED_ROUNDS = 3
OPENAPI_EXAMPLES = 40  # per operation, generation mode and token
WARMUPS, RSS_GROWTH = 10, 0.05


@dataclass
class Row:
    """One scenario's figures; `problems` says why it did not survive (none: it did)."""

    scenario: str
    fault: str
    size: str
    seconds: float = 0.0
    lost: int = 0
    duplicates: int = 0
    holes: int = 0
    replies_missing: int = 0
    server_errors: int | None = None  # 5xx from the admin app, where a scenario calls it
    outcome: str | None = None  # the final warmup's, where a scenario runs one after its fault
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def survived(self) -> bool:
        return not self.problems

    def judge(self, after: CacheAudit, before: CacheAudit | None = None, *, complete: bool = False) -> None:
        """Add the cache's invariants as `after` finds them; `complete`: a run just ended complete,
        so every pair must be sufficient."""
        self.lost += after.lost_since(before) if before else 0
        self.duplicates += after.duplicates
        self.holes += after.holes
        if complete and after.insufficient:
            self.problems.append(f"{after.insufficient} pairs insufficient after a complete run")

    def close(self) -> None:
        """The counts that must be 0 become problems when they are not."""
        counts = [
            (self.lost, "candles lost"),
            (self.duplicates, "duplicate scores"),
            (self.holes, "holes"),
            (self.replies_missing, "replies missing"),
            (self.server_errors or 0, "x 5xx"),
        ]
        self.problems += [f"{n} {what}" for n, what in counts if n]


Scenario = Callable[[Row], Awaitable[None]]


async def conclude(
    row: Row,
    s: Stack,
    symbols: Sequence[str],
    final: WarmupStats | None,
    *,
    before: CacheAudit | None = None,
    timeframes: Sequence[Timeframe] = TFS,
    exchange_id: int = BINANCE,
) -> None:
    """The run that follows a fault must end complete; then the cache's invariants (`before`: the
    audit taken before the fault, for the candles lost)."""
    row.outcome = final.outcome if final else None
    complete = final is not None and final.outcome == "complete"
    if not complete:
        said = f"{final.outcome}: {final.message}" if final else "no run ended"
        row.problems.append(f"no complete run after the fault ({said})")
    at = final.updated_at if final else None
    row.judge(await s.audit(symbols, timeframes, at_ms=at, exchange_id=exchange_id), before, complete=complete)


async def stop_serve(row: Row, served: Served) -> None:
    """SIGTERM ends a surviving serve with 0."""
    if served.proc.alive and (code := await served.proc.stop()) != 0:
        row.problems.append(f"serve exited {code} on SIGTERM")


def until_share_done(share: float, total: int) -> Callable[[WarmupStats], bool]:
    return lambda stats: stats.completed_pairs >= share * total or not stats.running


async def reached(s: Stack, until: Callable[[WarmupStats], bool], proc: Proc, what: str) -> WarmupStats:
    stats = await s.wait_stats(until, 60, proc)
    if stats is None or not until(stats):
        raise Broke(f"never reached {what} before the fault: {proc.last_words()}")
    return stats


# --- Redis SIGKILL + AOF restart ------------------------------------------------------------------


def redis_restarts_under_serve(restarts: int, down_s: float, *, mid_warmup: bool) -> Scenario:
    """serve warms (a third of the way, or to the end), Redis is SIGKILLed and restarted `restarts`
    times; serve must still answer, and a `start` afterwards must end complete."""

    async def scenario(row: Row) -> None:
        async with stack(SimulatorConfig(symbols=SYMBOLS, latency_ms=LATENCY)) as s:
            symbols, total = s.symbols(SYMBOLS), SYMBOLS * len(TFS)
            served = await s.serve(symbols, TFS, autostart=True, env=ONE_AT_A_TIME if mid_warmup else None)
            until = until_share_done(1 / 3, total) if mid_warmup else (lambda st: st.outcome is not None)
            await reached(s, until, served.proc, "a third of the run" if mid_warmup else "the run's end")
            before = await s.audit(symbols, TFS)
            for _ in range(restarts):
                await s.restart_redis(down_s)
                await asyncio.sleep(0.5)
            if mid_warmup:
                hit = await s.wait_stats(lambda st: not st.running, 60, served.proc)
                row.notes.append(f"the run hit ended {hit.outcome if hit else None}: {hit.message if hit else ''}")
            if await served.ask("status", timeout_s=10) is None or not served.proc.alive:
                row.problems.append(f"serve {_fate(served)} after the restart")
            await conclude(row, s, symbols, await served.warm(60), before=before)
            row.replies_missing += served.unanswered
            await stop_serve(row, served)

    return scenario


def _fate(served: Served) -> str:
    if served.proc.alive:
        return "left `status` unanswered"
    return f"exited {served.proc.process.returncode} ({served.proc.last_words()})"


async def redis_restart_under_warmup(row: Row) -> None:
    """`livermore warmup` a third of the way; Redis SIGKILLed and back after 0.5 s: the run must go
    on to `complete`; a rerun must then find nothing missing."""
    async with stack(SimulatorConfig(symbols=SYMBOLS, latency_ms=LATENCY)) as s:
        symbols, total = s.symbols(SYMBOLS), SYMBOLS * len(TFS)
        run = await s.warmup(symbols, TFS, env=ONE_AT_A_TIME)
        await reached(s, until_share_done(1 / 3, total), run, "a third of the run")
        before = await s.audit(symbols, TFS)
        await s.restart_redis(0.5)
        code = await run.ended(90)
        hit = await s.stats()
        row.notes.append(f"the run hit exited {code}, its stats say {hit.outcome if hit else None}")
        if code != 0:
            row.problems.append(f"the warmup hit by the restart exited {code}: {run.last_words()}")
        rerun = await s.warmup(symbols, TFS)
        await rerun.ended(90)
        await conclude(row, s, symbols, await s.stats(), before=before)


# --- kill -9 of a warmup ---------------------------------------------------------------------------


async def kill9_warmups(row: Row) -> None:
    """`KILLS` cold runs, each `kill -9`ed at a random share of its pairs and rerun at once: the
    killed run's stats must say so (interrupted), and the rerun end complete."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    row.figures["seed"] = seed
    async with stack(SimulatorConfig(symbols=SYMBOLS, latency_ms=LATENCY)) as s:
        symbols, total = s.symbols(SYMBOLS), SYMBOLS * len(TFS)
        for _ in range(KILLS):
            await s.redis.flushdb()
            share = rng.random()
            run = await s.warmup(symbols, TFS, env=TWO_AT_A_TIME)
            stats = await reached(s, until_share_done(share, total), run, f"{share:.0%} of the run")
            run.kill9()
            await run.process.wait()
            before, killed = await s.audit(symbols, TFS), await s.stats()
            row.notes.append(f"killed at {stats.completed_pairs}/{total}: {killed.outcome if killed else None}")
            if killed is not None and killed.outcome not in ("interrupted", "complete"):
                row.problems.append(f"a killed run's stats say {killed.status}/{killed.outcome}")
            rerun = await s.warmup(symbols, TFS)
            await rerun.ended(90)
            await conclude(row, s, symbols, await s.stats(), before=before)


# --- fault soak ------------------------------------------------------------------------------------


async def fault_soak(row: Row) -> None:
    """`SOAK_RUNS` cold runs of 100 symbols x 6 timeframes through 5% 5xx, 1% hangs, 2% garbage
    bodies and bursts of forced 429s: every run must end 600/600, and never a 418."""
    async with stack(SOAK_FAULTS) as s, bursts_of_429(s.sim, every_s=BURST_EVERY_S, size=BURST):
        symbols = s.symbols(SOAK_SYMBOLS)
        for _ in range(SOAK_RUNS):
            await s.redis.flushdb()
            run = await s.warmup(symbols, TFS, env=HTTP_TIMEOUT)
            if await run.ended(120) is None:
                run.kill9()
            stats = await s.stats()
            if stats is not None:
                _soak_run(row, stats, len(symbols) * len(TFS))
            await conclude(row, s, symbols, stats)
        _count_throttling(row, s)


def _soak_run(row: Row, stats: WarmupStats, pairs: int) -> None:
    """One soak run's tally: every pair fetched (pairs fetched again because they aged during the run,
    the touch-ups, are counted apart)."""
    fetched = stats.completed_pairs - stats.touch_up_pairs
    row.notes.append(
        f"{fetched}/{pairs} (+{stats.touch_up_pairs} touched up) in {stats.duration_ms / 1000:.1f} s: "
        f"{stats.retries} retries, {stats.throttled} x 429"
    )
    if fetched != pairs or stats.failed_pairs:
        row.problems.append(f"a run ended {fetched}/{pairs} with {stats.failed_pairs} failed")


def _count_throttling(row: Row, s: Stack, label: str = "simulator") -> None:
    """The simulator's 429s and 418s since its last reset, added to the row's; a 418 (an IP ban)
    fails the row."""
    served: dict[str, Any] = s.sim.simulator.stats()
    for key, n in (("simulator_429s", served["throttled"]), ("simulator_418s", served["banned"])):
        row.figures[key] = row.figures.get(key, 0) + n
    row.notes.append(f"{label}: {served['throttled']} x 429, {served['banned']} x 418")
    if served["banned"]:
        row.problems.append(f"{label}: {served['banned']} x 418 (IP banned)")


# --- two processes on one IP -----------------------------------------------------------------------


async def two_processes_one_ip(row: Row) -> None:
    """`PAIRED_ROUNDS` rounds of two warmups (exchange ids 101 and 102: two leases) from one IP on a
    budget of 60 weight/s: until they share the budget, the exchange sees up to twice what each
    thinks it sends, and a 429 one of them got is news to the other (whose next request is a 418)."""
    config = SimulatorConfig(symbols=30, window_s=2, weight_limit=120, latency_ms=(20.0, 60.0), ban_s=10)
    async with stack(config) as s:
        symbols = s.symbols(30)
        for round_ in range(1, PAIRED_ROUNDS + 1):
            await s.redis.flushdb()
            s.sim.simulator.reset()
            runs = [await s.warmup(symbols, TFS, "--exchange-id", str(eid)) for eid in (101, 102)]
            await asyncio.gather(*(run.ended(50) for run in runs))
            for eid in (101, 102):
                await conclude(row, s, symbols, await s.stats(eid), exchange_id=eid)
            _count_throttling(row, s, f"round {round_} ({row.outcome})")


# --- the control channel and the admin app ---------------------------------------------------------


async def fuzzed_control(row: Row) -> None:
    """Hypothesis-drawn messages on a running serve's channel: every one answered, the listener
    alive, and a real `start` afterwards ends complete."""
    async with stack(SimulatorConfig(symbols=12, latency_ms=LATENCY)) as s:
        symbols = s.symbols(6)
        served = await s.serve(symbols, FEW_TFS, autostart=True)
        sent = await asyncio.to_thread(sample, control_messages(s.symbols(12)), FUZZ_MESSAGES)
        async with ControlClient(s.redis, served.sub) as client:
            for raw in sent:
                await client.publish_raw(raw)
            row.replies_missing += await missing_after(client, sent, timeout_s=60)
            replies = Counter(r.status for r in client.received)
            row.notes.append(
                f"{len(sent)} messages: {replies['ack']} acked, {replies['success']} succeeded, "
                f"{replies['error']} refused"
            )
            try:
                await calm(client, symbols)
            except TimeoutError:
                raise Broke(f"serve {_fate(served)} after the fuzz") from None
        await conclude(row, s, symbols, await served.warm(60), timeframes=FEW_TFS)
        row.replies_missing += served.unanswered
        await stop_serve(row, served)


async def openapi_fuzz(row: Row) -> None:
    """Schemathesis against a running serve's /openapi.json, with the bearer token and without: no
    5xx, every request answered, serve alive after."""
    async with stack(SimulatorConfig(symbols=8, latency_ms=LATENCY)) as s:
        symbols = s.symbols(4)
        served = await s.serve(symbols, FEW_TFS, autostart=True)
        row.server_errors = 0
        for label, token in (("with the token", served.token), ("without", None)):
            tally = await asyncio.to_thread(fuzz_openapi, served.url, token, OPENAPI_EXAMPLES)
            row.server_errors += tally.server_errors
            row.notes.append(f"{label}: {tally.summary()}")
            row.figures[f"undrawable {label}"] = tally.undrawable  # operations with nothing to negate
            if tally.unanswered:
                row.problems.append(f"{len(tally.unanswered)} requests unanswered ({tally.unanswered[0]}, ...)")
        if not served.proc.alive:
            row.problems.append(f"serve {_fate(served)}")
        await stop_serve(row, served)


async def rss_over_warmups(row: Row) -> None:
    """`WARMUPS` cold warmups through one serve (clear-cache, then start), each fetching every pair:
    serve's RSS after the last may exceed that after the first by less than 5%."""
    async with stack(SimulatorConfig(symbols=SYMBOLS, latency_ms=LATENCY)) as s:
        symbols = s.symbols(SYMBOLS)
        served = await s.serve(symbols, TFS)
        rss: list[int] = []
        final = None
        while len(rss) < WARMUPS:
            await served.ask("clear-cache", {"scope": "all"})
            final = await served.warm(60)
            if final is None or final.completed_pairs != len(symbols) * len(TFS):
                row.problems.append(f"warmup {len(rss) + 1} did not fetch every pair")
                break
            rss.append(served.proc.rss_kb())
        row.figures["rss_kb"] = rss
        if len(rss) == WARMUPS:
            growth = rss[-1] / rss[0] - 1
            row.notes.append(
                f"RSS {rss[0] / 1024:.1f} MiB after the 1st, {rss[-1] / 1024:.1f} after the last: {growth:+.1%}"
            )
            if growth >= RSS_GROWTH:
                row.problems.append(f"RSS grew {growth:.1%} over {WARMUPS} warmups")
        await conclude(row, s, symbols, final)
        row.replies_missing += served.unanswered
        await stop_serve(row, served)


class Case(NamedTuple):
    row: Row
    scenario: Scenario
    budget_s: float  # the sum over the suite stays under 15 minutes, whatever hangs


SIZE = f"{SYMBOLS} symbols x {len(TFS)} tf"
AT_A_THIRD = "Redis SIGKILL at 1/3 of the run, back after 0.5 s"
CASES = [
    Case(
        Row("redis-kill serve idle", "Redis SIGKILL, AOF restart after 0.5 s", SIZE),
        redis_restarts_under_serve(1, 0.5, mid_warmup=False),
        45,
    ),
    Case(
        Row("redis-kill serve mid-warmup", AT_A_THIRD, SIZE),
        redis_restarts_under_serve(1, 0.5, mid_warmup=True),
        60,
    ),
    Case(
        Row("redis-kill serve x3", "3 Redis SIGKILLs mid-run, each back after 0.2 s", SIZE),
        redis_restarts_under_serve(3, 0.2, mid_warmup=True),
        60,
    ),
    Case(Row("redis-kill warmup", AT_A_THIRD, SIZE), redis_restart_under_warmup, 60),
    Case(Row("kill -9 warmup x5", f"{KILLS} kill -9 at random moments, rerun at once", SIZE), kill9_warmups, 75),
    Case(
        Row(
            "fault soak",
            f"5% 5xx, 1% hangs, 2% garbage, {BURST} forced 429s every {BURST_EVERY_S} s",
            f"{SOAK_RUNS} cold runs of {SOAK_SYMBOLS} x {len(TFS)}",
        ),
        fault_soak,
        240,
    ),
    Case(
        Row(
            "two processes one IP",
            "2 warmups, 120 weight per 2 s",
            f"{PAIRED_ROUNDS} rounds of 2 x 30 symbols x 6 tf",
        ),
        two_processes_one_ip,
        90,
    ),
    Case(Row("fuzzed control", f"{FUZZ_MESSAGES} hypothesis messages", "6 symbols x 2 tf"), fuzzed_control, 60),
    Case(
        Row("schemathesis admin", "OpenAPI fuzz, with and without token", f"{OPENAPI_EXAMPLES} per op/mode"),
        openapi_fuzz,
        90,
    ),
    Case(Row("RSS over warmups", f"{WARMUPS} cold warmups through serve", SIZE), rss_over_warmups, 60),
]
assert sum(c.budget_s for c in CASES) <= 14 * 60


async def run(case: Case) -> Row:
    """The scenario within its budget; whatever it raises is its row's reason, never the suite's end."""
    row, started = case.row, time.monotonic()
    try:
        async with asyncio.timeout(case.budget_s):
            await case.scenario(row)
    except Broke as e:
        row.problems.append(str(e))
    except TimeoutError:
        row.problems.append(f"did not end within its {case.budget_s:g} s budget")
    except Exception as e:
        row.problems.append(f"harness error: {type(e).__name__}: {e}")
    row.seconds = round(time.monotonic() - started, 1)
    row.close()
    return row


def table(rows: Sequence[Row]) -> Table:
    t = Table(title="make reliability")
    for name in ("scenario", "fault", "size", "s", "survived", "lost", "dup", "holes", "no reply", "5xx", "outcome"):
        t.add_column(name, justify="right" if name in ("s", "lost", "dup", "holes", "no reply", "5xx") else "left")
    for r in rows:
        t.add_row(
            r.scenario,
            r.fault,
            r.size,
            f"{r.seconds:.0f}",
            "[green]yes[/green]" if r.survived else "[red]no[/red]",
            *(str(n) for n in (r.lost, r.duplicates, r.holes, r.replies_missing)),
            "-" if r.server_errors is None else str(r.server_errors),
            r.outcome or "-",
        )
    return t


def main() -> dict[str, Any]:
    async def suite() -> list[Row]:
        return [await run(case) for case in CASES]

    started = time.monotonic()
    rows = asyncio.run(suite())
    console = Console(width=200)
    console.print(table(rows))
    for r in rows:
        for line in [*(f"[red]why[/red]: {p}" for p in r.problems), *r.notes]:
            console.print(f"  {r.scenario}: {line}", highlight=False)
    seconds = round(time.monotonic() - started, 1)
    print(f"reliability: {sum(r.survived for r in rows)}/{len(rows)} scenarios survived in {seconds:.0f} s")
    return {
        "seconds": seconds,
        "survived": all(r.survived for r in rows),
        "rows": [{**asdict(r), "survived": r.survived} for r in rows],
    }
