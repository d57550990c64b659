"""The egress IP's budget in Redis on a fake clock: two limiters (two processes) split one window,
carried weight, the server's count, the shared pause, the shared bucket, and the in-process fallback."""

from __future__ import annotations

import logging
import socket

import pytest
from redis.asyncio import Redis

from livermore.config import Settings
from livermore.embedded import RedisServer, free_port
from livermore.exchanges.ratelimit import WindowTerms
from livermore.exchanges.shared import SharedBudget, SharedTokenBucket, SharedWeightLimiter
from livermore.keys import budget_pause_key, budget_terms_key, budget_window_key
from tests.unit.test_ratelimit import FakeTime

BINANCE, COINBASE = 2, 1


def weight_limiter(redis: Redis, ft: FakeTime, egress: str = "default") -> SharedWeightLimiter:
    """Limit 100 per 10 s window, budget 90: windows start at 1_000.0, 1_010.0, ..."""
    return SharedWeightLimiter(
        SharedBudget(redis, BINANCE, egress), 100, 10, safety_margin=0.1, clock=ft.clock, sleep=ft.sleep
    )


async def window_weight(redis: Redis, window: int = 100) -> int:
    return int(await redis.get(budget_window_key(BINANCE, "default", window)) or 0)


async def spend(limiter: SharedWeightLimiter, n: int, weight: int = 2) -> None:
    """`n` requests, each answered at once."""
    for _ in range(n):
        limiter.release(await limiter.acquire(weight))


async def test_two_processes_split_one_window_and_the_next_grant_waits_for_the_next(redis: Redis) -> None:
    ft = FakeTime()
    a, b = weight_limiter(redis, ft), weight_limiter(redis, ft)
    await spend(a, 30)
    await spend(b, 15)
    assert ft.t == 1_000.0 and await window_weight(redis) == 90
    assert (a.used, b.used) == (60, 90)  # the egress's count as each last heard it, not only its own
    late = await a.acquire(2)
    assert (ft.t, late.window) == (1_010.0, 101) and await window_weight(redis, 101) == 2


async def test_another_egress_has_a_budget_of_its_own(redis: Redis) -> None:
    ft = FakeTime()
    await spend(weight_limiter(redis, ft), 45)
    await spend(weight_limiter(redis, ft, egress="127.0.0.2"), 45)
    assert ft.t == 1_000.0


async def test_weight_in_flight_at_the_turn_is_carried_into_the_shared_window(redis: Redis) -> None:
    ft = FakeTime(1_009.0)
    a, b = weight_limiter(redis, ft), weight_limiter(redis, ft)
    for _ in range(3):
        await a.acquire(10)  # still in flight when the window turns
    ft.t = 1_010.5
    await a.acquire(2)
    assert await window_weight(redis, 101) == 30 + 2
    await a.acquire(2)  # carried once per window
    await spend(b, 28)
    assert await window_weight(redis, 101) == 90 and ft.t == 1_010.5


async def test_the_servers_larger_count_raises_the_shared_one_with_the_next_grant(redis: Redis) -> None:
    ft = FakeTime()
    a, b = weight_limiter(redis, ft), weight_limiter(redis, ft)
    g = await a.acquire(2)
    a.observe(70, g)  # someone outside our processes spent 68 on this IP
    a.release(g)
    await spend(a, 1)
    assert await window_weight(redis) == 72
    await spend(b, 9)
    assert await window_weight(redis) == 90 and ft.t == 1_000.0
    await spend(b, 1)
    assert ft.t == 1_010.0
    a.observe(500, g)  # an answer from an earlier window says nothing about this one
    await spend(a, 1)
    assert await window_weight(redis, 101) == 4


async def test_a_pause_drawn_by_one_process_holds_every_process(redis: Redis) -> None:
    ft = FakeTime()
    a, b = weight_limiter(redis, ft), weight_limiter(redis, ft)
    await a.pause_until(1_004.5)  # a 429's Retry-After, or a 418 ban
    assert int(await redis.get(budget_pause_key(BINANCE, "default")) or 0) == 1_004_500
    g = await b.acquire(2)
    assert g.at == 1_004.5 and b.paused_until == 1_004.5  # learnt: viewers of b see the pause
    await a.pause_until(1_002.0)  # a shorter pause never shortens a longer one
    assert int(await redis.get(budget_pause_key(BINANCE, "default")) or 0) == 1_004_500


async def test_two_processes_share_one_token_bucket(redis: Redis) -> None:
    ft = FakeTime()
    a, b = (
        SharedTokenBucket(SharedBudget(redis, COINBASE, "default"), 10, 5, clock=ft.clock, sleep=ft.sleep)
        for _ in range(2)
    )
    for limiter in (a, b, a, b, a):
        await limiter.acquire()
    assert ft.t == 1_000.0  # the burst of 5, between them
    for limiter in (b, a) * 5:
        await limiter.acquire()
    assert ft.t == pytest.approx(1_001.0)  # then 10 per second, between them
    await a.pause_until(1_005.0)
    assert (await b.acquire()).at == 1_005.0


async def test_without_redis_the_in_process_rules_grant_and_the_outage_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ft = FakeTime()
    async with Redis.from_url(f"redis://127.0.0.1:{free_port()}/0") as nobody:
        limiter = weight_limiter(nobody, ft)
        with caplog.at_level(logging.WARNING, "livermore.exchanges.shared"):
            await spend(limiter, 45)
            assert ft.t == 1_000.0 and limiter.used == 90
            await limiter.pause_until(1_003.0)  # kept in-process
            g = await limiter.acquire(2)
    assert (g.at, g.window) == (1_010.0, 101)  # the in-process budget, and the pause, held
    assert len(caplog.records) == 1 and "unreachable" in caplog.records[0].message


async def test_back_from_an_outage_the_shared_count_takes_over_again(caplog: pytest.LogCaptureFixture) -> None:
    ft = FakeTime()
    server = RedisServer().start()
    try:
        async with Redis.from_url(server.url) as redis:
            a, b = weight_limiter(redis, ft), weight_limiter(redis, ft)
            await spend(a, 10)
            server.stop()
            with caplog.at_level(logging.WARNING, "livermore.exchanges.shared"):
                await spend(b, 40)  # in-process: b alone knows nothing of a's 20
                assert ft.t == 1_000.0
                server.start()
                ft.t = 1_001.0  # a second later Redis is asked again (restarted empty: a's 20 are gone)
                await spend(b, 10)
                assert await window_weight(redis) == 20
            assert ["unreachable" in r.message for r in caplog.records] == [True, False]
            assert "back" in caplog.records[1].message
    finally:
        server.stop()


def test_the_egress_label_is_the_one_given_else_the_source_address_else_default() -> None:
    assert Settings().egress_label == "default"
    assert Settings(source_address="127.0.0.2").egress_label == "127.0.0.2"
    assert Settings(source_address="127.0.0.2", egress="nat-a").egress_label == "nat-a"
    with pytest.raises(ValueError, match="egress label"):
        SharedBudget(Redis(), BINANCE, "a{b}")  # it sits inside the keys' hash tag


async def test_a_new_window_length_carries_what_was_granted_so_far_into_the_shared_window(redis: Redis) -> None:
    ft = FakeTime()
    a = SharedWeightLimiter(
        SharedBudget(redis, BINANCE, "default"), 6000, 60, safety_margin=0.1, clock=ft.clock, sleep=ft.sleep
    )
    await spend(a, 1, weight=20)  # exchangeInfo, under the public default
    a.follow(WindowTerms(100, 10))
    await spend(a, 1)
    assert await window_weight(redis) == 22


async def test_the_first_process_sets_the_hosts_clock_offset_and_each_keeps_the_exchanges_limit(redis: Redis) -> None:
    first, second = SharedBudget(redis, BINANCE, "default"), SharedBudget(redis, BINANCE, "default")
    assert await first.terms() is None
    assert await first.agree(WindowTerms(6000, 60, 0.25)) == WindowTerms(6000, 60, 0.25)
    assert await second.terms() == WindowTerms(6000, 60, 0.25)  # followed before its exchangeInfo is sent
    assert await second.agree(WindowTerms(1200, 60, 0.31)) == WindowTerms(1200, 60, 0.25)
    assert await SharedBudget(redis, BINANCE, "nat-b").terms() is None  # another egress measures its own


async def test_terms_this_version_cannot_read_are_measured_afresh(redis: Redis) -> None:
    budget = SharedBudget(redis, BINANCE, "default")
    await redis.set(budget_terms_key(BINANCE, "default", socket.gethostname()), b'{"offset": 1}')
    assert await budget.terms() is None
    assert await budget.agree(WindowTerms(6000, 60, 0.25)) == WindowTerms(6000, 60, 0.25)
