"""`livermore schedule` is a dry run unless --save; `livermore status` reads the last run for a person or a machine."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from click.testing import Result
from redis.asyncio import Redis
from typer.testing import CliRunner

from livermore.cli import app
from livermore.embedded import RedisServer
from livermore.keys import warmup_schedule_key
from livermore.warmup import WarmupSchedule, WarmupStats
from livermore.warmup.store import WarmupStore

EXCHANGE = 9


async def invoke(runner: CliRunner, args: list[str]) -> Result:
    """The command in a thread: it runs its own event loop, and the test's is running."""
    return await asyncio.to_thread(runner.invoke, app, args)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


async def test_schedule_leaves_the_live_key_alone_unless_saved(
    runner: CliRunner, redis: Redis, redis_server: RedisServer
) -> None:
    key = warmup_schedule_key(EXCHANGE)
    await redis.set(key, b"the service's schedule")
    args = ["schedule", "--symbols", "BTC-USD", "--timeframes", "5m", "--exchange-id", str(EXCHANGE)]
    args += ["--redis-url", redis_server.url]

    dry = await invoke(runner, args)
    assert dry.exit_code == 0, dry.output
    assert "1 of 1 pairs need fetching" in dry.stdout
    assert "dry run" in dry.stderr
    assert await redis.get(key) == b"the service's schedule"

    saved = await invoke(runner, [*args, "--save", "--json"])
    assert saved.exit_code == 0, saved.output
    stored = WarmupSchedule.model_validate_json(await redis.get(key) or b"")
    assert stored.to_dict() == orjson.loads(saved.stdout)
    assert (stored.needs_fetching, stored.entries[0].symbol) == (1, "BTC-USD")


async def test_status_for_a_person_and_for_a_machine(
    runner: CliRunner, redis: Redis, redis_server: RedisServer
) -> None:
    args = ["status", "--exchange-id", str(EXCHANGE), "--redis-url", redis_server.url]
    before = await invoke(runner, args)
    assert before.exit_code == 0, before.output
    assert f"exchange {EXCHANGE}: no warmup has run" in before.stdout

    stats = WarmupStats(exchange_id=EXCHANGE, started_at=1_700_000_000_000, updated_at=1_700_000_012_000)
    stats.total_pairs, stats.completed_pairs, stats.rest_calls, stats.duration_ms = 4, 3, 5, 12_000
    stats.record_failure("NOPE-USD", "1h", ValueError("unknown symbol"))
    stats.end("failed", "1 of 4 pairs failed")
    store = WarmupStore(redis)
    await store.publish_stats(stats)
    schedule = WarmupSchedule(
        exchange_id=EXCHANGE,
        created_at=1_700_000_000_500,
        total_pairs=6,
        sufficient_pairs=2,
        needs_fetching=4,
        entries=[],
    )
    await store.save_schedule(schedule)

    human = await invoke(runner, args)
    assert human.exit_code == 0, human.output
    text = human.stdout
    assert f"exchange {EXCHANGE}: failed - 1 of 4 pairs failed" in text
    assert "started   2023-11-14 22:13:20Z" in text
    assert "duration  12.0 s" in text
    assert "4 scheduled, 3 completed, 1 failed" in text
    assert "failed    NOPE-USD 1h: unknown symbol" in text
    assert "4 of 6 pairs to fetch, 2 sufficient" in text

    machine = await invoke(runner, [*args, "--json"])
    assert machine.exit_code == 0, machine.output
    doc = orjson.loads(machine.stdout)
    assert doc["exchangeId"] == EXCHANGE
    assert (doc["stats"]["outcome"], doc["stats"]["startedAt"], doc["schedule"]["needsFetching"]) == (
        "failed",
        1_700_000_000_000,
        4,
    )
