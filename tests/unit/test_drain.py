"""Drain: every entry is fetched from its `fetch_from` and counted; a failure is recorded and the rest
go on; a ban stops claiming; a halt stops within one request (entries in flight are abandoned, neither
done nor failed); `after_batch` follows each batch."""

from __future__ import annotations

import asyncio

from livermore.errors import ExchangeBannedError
from livermore.models import Timeframe
from livermore.warmup.drain import Drain
from livermore.warmup.queue import EntryList
from livermore.warmup.schedule import WarmupScheduleEntry
from livermore.warmup.stats import Failure, WarmupStats


def entry(symbol: str, fetch_from: int = 1000, tf: Timeframe = Timeframe.M5) -> WarmupScheduleEntry:
    return WarmupScheduleEntry(
        symbol=symbol, timeframe=tf, cached_count=0, target_count=100, reason="empty", fetch_from=fetch_from
    )


class FakeFetch:
    """Records each call; raises what `errors` names for a symbol, else writes `len(symbol)` candles."""

    def __init__(self, errors: dict[str, Exception] | None = None):
        self.errors = errors or {}
        self.calls: list[tuple[str, Timeframe, int]] = []

    async def __call__(self, symbol: str, timeframe: Timeframe, start_ms: int) -> int:
        self.calls.append((symbol, timeframe, start_ms))
        if symbol in self.errors:
            raise self.errors[symbol]
        return len(symbol)


def drain(fetch: FakeFetch, max_in_flight: int = 1, **kw: object) -> Drain:
    stats = WarmupStats(exchange_id=1, started_at=0, updated_at=0)
    return Drain(fetch, stats, max_in_flight, **kw)  # type: ignore[arg-type]


async def test_counts_and_failures() -> None:
    entries = [entry("A", 1), entry("BB", 2, Timeframe.H1), entry("CCC", 3)]
    fetch = FakeFetch({"BB": ValueError("no such pair")})
    d = drain(fetch, max_in_flight=3)
    await d.run(EntryList(entries), len(entries))
    assert sorted(fetch.calls) == [("A", Timeframe.M5, 1), ("BB", Timeframe.H1, 2), ("CCC", Timeframe.M5, 3)]
    assert (d.stats.completed_pairs, d.stats.failed_pairs, d.stats.candles_written) == (2, 1, 4)
    assert d.stats.failures == [Failure(symbol="BB", timeframe="1h", error="no such pair")]
    assert d.banned is None


async def test_ban_stops_claiming() -> None:
    ban = ExchangeBannedError("418 banned", until_s=99.0)
    entries = [entry("A"), entry("B"), entry("C"), entry("D")]
    fetch = FakeFetch({"B": ban})
    d = drain(fetch)
    source = EntryList(entries)
    await d.run(source, len(entries))
    assert [s for s, _, _ in fetch.calls] == ["A", "B"]
    assert d.banned is ban and d.stopped()
    assert (d.stats.completed_pairs, d.stats.failed_pairs) == (1, 1)
    assert [e.symbol for _, e in await source.claim(10)] == ["C", "D"]  # left unclaimed


class HangingFetch(FakeFetch):
    """Answers the first `answered` calls, then hangs like a request waiting for the limiter or the
    exchange; the halt is set when the hang begins."""

    def __init__(self, halt: asyncio.Event, answered: int):
        super().__init__()
        self.halt, self.answered, self.abandoned = halt, answered, 0

    async def __call__(self, symbol: str, timeframe: Timeframe, start_ms: int) -> int:
        written = await super().__call__(symbol, timeframe, start_ms)
        if len(self.calls) <= self.answered:
            return written
        self.halt.set()
        try:
            await asyncio.Event().wait()  # never answered
        except asyncio.CancelledError:
            self.abandoned += 1
            raise
        raise AssertionError("unreachable")


async def test_a_halt_abandons_what_is_in_flight_and_claims_nothing_more() -> None:
    halt = asyncio.Event()
    fetch = HangingFetch(halt, answered=2)
    entries = [entry(s) for s in "ABCDEF"]
    d = drain(fetch, max_in_flight=2, halt_on=(halt,))
    source = EntryList(entries)
    await d.run(source, len(entries))
    assert (d.stats.completed_pairs, d.stats.failed_pairs) == (2, 0)  # the abandoned are neither
    assert fetch.abandoned == 2 and len(fetch.calls) == 4 and d.stopped()
    assert [e.symbol for _, e in await source.claim(10)] == ["E", "F"]  # never claimed


async def test_a_halt_set_before_the_run_claims_nothing() -> None:
    halt = asyncio.Event()
    halt.set()
    never = FakeFetch()
    await drain(never, halt_on=(halt,)).run(EntryList([entry("A")]), 1)
    assert never.calls == []


async def test_after_batch_once_per_batch() -> None:
    seen: list[int] = []
    fetch = FakeFetch()

    async def after_batch() -> None:
        seen.append(len(fetch.calls))

    d = drain(fetch, after_batch=after_batch)
    await d.run(EntryList([entry("A"), entry("B"), entry("C")]), 3)
    assert seen == [1, 2, 3]
    assert (d.stats.current_symbol, d.stats.current_timeframe) == ("C", "5m")


async def test_no_entries_claims_nothing() -> None:
    fetch = FakeFetch()
    source = EntryList([entry("A")])
    await drain(fetch).run(source, 0)
    assert fetch.calls == [] and len(await source.claim(5)) == 1


class GatedFetch(FakeFetch):
    """Closes `gate` (the operator's pause) during the call for `pause_on`, as a pause arriving mid-run."""

    def __init__(self, gate: asyncio.Event, pause_on: str):
        super().__init__()
        self.gate, self.pause_on = gate, pause_on

    async def __call__(self, symbol: str, timeframe: Timeframe, start_ms: int) -> int:
        if symbol == self.pause_on:
            self.gate.clear()
        return await super().__call__(symbol, timeframe, start_ms)


async def test_a_closed_gate_stops_claiming_until_it_opens_then_the_same_queue_goes_on() -> None:
    gate = asyncio.Event()
    gate.set()
    published: list[str | None] = []
    fetch = GatedFetch(gate, pause_on="B")
    entries = [entry(s) for s in "ABCDE"]
    d = drain(fetch, max_in_flight=2, gate=gate)

    async def after_batch() -> None:
        published.append(d.stats.message)

    d.after_batch = after_batch
    run = asyncio.create_task(d.run(EntryList(entries), len(entries)))
    while d.stats.message != "paused":  # said once every worker waits at the gate: none in flight
        await asyncio.sleep(0)
    held = len(fetch.calls)
    for _ in range(50):
        await asyncio.sleep(0)
    assert len(fetch.calls) == held < len(entries)  # nothing claimed while paused
    gate.set()
    await run
    assert sorted(s for s, _, _ in fetch.calls) == list("ABCDE")  # each once: resumed, not restarted
    assert d.stats.completed_pairs == len(entries) and d.stats.message is None
    assert published.count("paused") == 1


async def test_a_halt_ends_a_paused_drain() -> None:
    gate, halt = asyncio.Event(), asyncio.Event()  # the gate starts closed: paused before the first claim
    fetch = FakeFetch()
    d = drain(fetch, gate=gate, halt_on=(halt,))
    run = asyncio.create_task(d.run(EntryList([entry("A"), entry("B")]), 2))
    while d.stats.message != "paused":
        await asyncio.sleep(0)
    halt.set()
    await run
    assert fetch.calls == [] and d.stats.completed_pairs == 0
