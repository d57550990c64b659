"""WarmupStore: what readers are told about the last run, true even after a crash."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from livermore.keys import warmup_lock_key
from livermore.warmup import WarmupStats
from livermore.warmup.store import WarmupStore


def stats(status: str) -> WarmupStats:
    return WarmupStats.model_validate(
        {"exchangeId": 2, "status": status, "startedAt": 1, "updatedAt": 2, "totalPairs": 10, "completedPairs": 4}
    )


@pytest.mark.parametrize("status", ["scanning", "fetching"])
async def test_a_run_that_says_it_runs_without_a_lease_is_interrupted(redis: Redis, status: str) -> None:
    """kill -9 leaves `fetching` in the key; nobody holds the lease: readers are told the truth."""
    store = WarmupStore(redis)
    await store.publish_stats(stats(status))
    found = await store.load_stats(2)
    assert found is not None
    assert (found.status, found.outcome, found.completed_pairs) == ("error", "interrupted", 4)
    assert "no process runs this warmup" in (found.message or "")
    events = store.stats_events(2, poll_s=0.01)
    assert WarmupStats.model_validate_json(await anext(events)).outcome == "interrupted"
    await events.aclose()


async def test_a_run_whose_lease_is_held_is_shown_as_it_says(redis: Redis) -> None:
    store = WarmupStore(redis)
    await store.publish_stats(stats("fetching"))
    await redis.set(warmup_lock_key(2), "held", px=5000)
    found = await store.load_stats(2)
    assert found is not None and (found.status, found.outcome) == ("fetching", None)


async def test_an_ended_run_is_shown_as_it_ended(redis: Redis) -> None:
    store = WarmupStore(redis)
    ended = stats("fetching")
    ended.end("cancelled", "cancelled by an operator")
    await store.publish_stats(ended)
    assert await store.load_stats(2) == ended
    assert await store.load_stats(3) is None
