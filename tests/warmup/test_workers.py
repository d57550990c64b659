"""Workers on one schedule, over real Redis and the simulator: a run that only schedules is drained
by QueueWorkers (each with its own adapter), their shares add up in the run's stats, and entries a
dead worker left pending are taken over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from redis.asyncio import Redis

from livermore.connection import RedisClient
from livermore.keys import WARMUP_QUEUE_GROUP, warmup_queue_key
from livermore.models import Timeframe
from livermore.service import adapter_for, warmup_for
from livermore.warmup.drain import Drain
from livermore.warmup.queue import EntryQueue, QueueProgress
from livermore.warmup.run import SETTLE_POLL_S
from livermore.warmup.stats import WarmupStats, WorkerTally
from livermore.warmup.worker import QueueWorker
from tests.support.candles import duplicate_scores
from tests.support.warmup_world import SETTINGS, TFS, Env
from tests.unit.test_drain import entry
from tests.warmup.test_execute import assert_complete_and_true

PAIRS = 4 * len(TFS)


@asynccontextmanager
async def workers(env: Env, names: list[str], **settings: object) -> AsyncIterator[list[QueueWorker]]:
    """QueueWorkers running until the block ends, each through its own adapter (its own limiter)."""
    stop = asyncio.Event()
    async with AsyncExitStack() as stack:
        started = []
        for name in names:
            adapter = adapter_for(SETTINGS, "binance", base_url=env.base_url)
            stack.push_async_callback(adapter.close)
            service = warmup_for(env.redis, adapter, SETTINGS.model_copy(update=settings), clock=env.sim.now_ms)
            started.append(QueueWorker(service, env.adapter.exchange_id, name, poll_s=0.05))
        tasks = [asyncio.create_task(w.run(stop)) for w in started]
        try:
            yield started
        finally:
            stop.set()
            await asyncio.gather(*tasks)


def scheduler(env: Env, **settings: object) -> Env:
    """The run's own process, which only scans and schedules."""
    update = {"drain_locally": False, **settings}
    service = warmup_for(env.redis, env.adapter, SETTINGS.model_copy(update=update), clock=env.sim.now_ms)
    return Env(**{**vars(env), "service": service})


async def test_a_schedule_only_run_is_drained_by_workers_whose_shares_add_up(binance: Env, redis: Redis) -> None:
    binance.sim.set_faults(latency_ms=(20, 40))
    binance.pin()  # no interval closes during the run: no touch-up pass
    run, before = scheduler(binance), len(binance.sim.log)
    async with workers(binance, ["w1", "w2"]):
        stats = await run.service.run(binance.adapter.exchange_id, binance.symbols, TFS)
    assert (stats.outcome, stats.completed_pairs, stats.failed_pairs) == ("complete", PAIRS, 0)
    assert sum(r.path.endswith("/klines") for r in binance.sim.log) == PAIRS  # each entry fetched once
    assert stats.rest_calls == len(binance.sim.log) - before  # every request of the run, whoever sent it
    assert binance.adapter.metrics.as_dict()["requests"] <= 2  # the scheduler's: symbol lists, no klines
    assert set(stats.workers) <= {"w1", "w2"} and sum(w.completed_pairs for w in stats.workers.values()) == PAIRS
    stored = await binance.service.store.load_stats(binance.adapter.exchange_id)
    assert stored is not None and stored.workers == stats.workers  # what the admin and the original read
    await assert_complete_and_true(binance)


async def test_entries_a_dead_worker_left_pending_are_taken_over(binance: Env, redis: Redis) -> None:
    """A worker that claimed two entries and died (never acknowledged them): after the idle time the
    others fetch them, the run completes, and no candle is held twice."""
    binance.sim.set_faults(latency_ms=(20, 40))
    binance.pin()
    run = scheduler(binance, reclaim_idle_s=0.3)
    key = warmup_queue_key(binance.adapter.exchange_id)

    async def die_holding_two() -> None:
        while not await redis.exists(key):
            await asyncio.sleep(0.005)
        await redis.xreadgroup(WARMUP_QUEUE_GROUP, "dead", {key: ">"}, count=2)

    async with workers(binance, ["w1"], reclaim_idle_s=0.3):
        dead = asyncio.create_task(die_holding_two())
        stats = await run.service.run(binance.adapter.exchange_id, binance.symbols, TFS)
        await dead
    assert (stats.outcome, stats.completed_pairs) == ("complete", PAIRS)
    assert (stats.workers["w1"].reclaimed, stats.workers["w1"].completed_pairs) == (2, PAIRS)
    assert await duplicate_scores(redis) == 0
    await assert_complete_and_true(binance)


async def test_an_entry_a_slow_worker_held_past_the_idle_time_is_run_twice_and_counted_once(redis: RedisClient) -> None:
    """A live but slow worker's entry is taken over after the idle time (it might have died): both
    run it, the second to acknowledge finds it already acknowledged and does not count it, so the
    workers' shares never add up to more pairs than the run has."""
    slow_queue, quick_queue = (EntryQueue(redis, 1, consumer=name, reclaim_idle_s=0.05) for name in ("slow", "quick"))
    await slow_queue.reset([entry("BTCUSDT")], run=1)
    taken_over = asyncio.Event()

    async def slow_fetch(symbol: str, timeframe: Timeframe, start_ms: int) -> int:
        await taken_over.wait()
        return 100

    async def quick_fetch(symbol: str, timeframe: Timeframe, start_ms: int) -> int:
        return 100

    slow, quick = (
        Drain(f, WarmupStats(exchange_id=1, started_at=0, updated_at=0), 1) for f in (slow_fetch, quick_fetch)
    )  # type: ignore[arg-type]
    slow_run = asyncio.create_task(slow.run(slow_queue, 1))
    while (await slow_queue.progress() or QueueProgress(0, 0)).pending == 0:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # past the idle time
    await quick.run(quick_queue, 1)
    taken_over.set()
    await slow_run
    assert quick_queue.reclaimed == 1 and quick.stats.completed_pairs == 1 and quick.stats.candles_written == 100
    assert (slow.stats.completed_pairs, slow.stats.candles_written, slow.stats.failed_pairs) == (0, 0, 0)
    assert (await slow_queue.progress()) == QueueProgress(unread=0, pending=0)


async def test_the_run_counts_the_last_entry_a_worker_reports_after_the_queue_settled(
    binance: Env, redis: RedisClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker acknowledges an entry, then reports it: the run that sees its queue settled in
    between waits for that report, so its final stats count every pair."""
    save = QueueWorker._save

    async def last_report_late(self: QueueWorker, tally: WorkerTally) -> None:
        if tally.completed_pairs == PAIRS:
            await asyncio.sleep(4 * SETTLE_POLL_S)
        await save(self, tally)

    monkeypatch.setattr(QueueWorker, "_save", last_report_late)
    binance.pin()
    run = scheduler(binance)
    async with workers(binance, ["w1"]):
        stats = await run.service.run(binance.adapter.exchange_id, binance.symbols, TFS)
    assert (stats.outcome, stats.completed_pairs, stats.workers["w1"].completed_pairs) == ("complete", PAIRS, PAIRS)
    stored = await binance.service.store.load_stats(binance.adapter.exchange_id)
    assert stored is not None and stored.completed_pairs == PAIRS
