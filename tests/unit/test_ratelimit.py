"""Client limiters on a fake clock: budgets, windows, carried in-flight weight, observed weight, pauses."""

from __future__ import annotations

import asyncio

import pytest

from livermore.exchanges.ratelimit import TokenBucket, WeightLimiter, WindowTerms, weight_terms


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self, t: float = 1_000.0):
        self.t = t

    def clock(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)
        await asyncio.sleep(0)


def weight_limiter(ft: FakeTime, limit: int = 100, window_s: float = 10, margin: float = 0.1) -> WeightLimiter:
    return WeightLimiter(limit, window_s, safety_margin=margin, clock=ft.clock, sleep=ft.sleep)


async def test_budget_is_limit_less_margin_then_waits_for_next_window() -> None:
    ft = FakeTime()
    lim = weight_limiter(ft)
    assert lim.budget == 90
    grants = [await lim.acquire(2) for _ in range(45)]
    assert ft.t == 1_000.0 and lim.used == 90
    for g in grants:
        lim.release(g)
    g = await lim.acquire(2)
    assert ft.t == 1_010.0 and g.window == 101 and lim.used == 2


async def test_aligned_windows_turn_when_the_exchanges_clock_says() -> None:
    """The exchange's clock 3.5 s ahead of ours: its window 101 (1010-1020 on its clock) runs from
    1006.5 to 1016.5 on ours; what was granted before the alignment stays charged."""
    ft = FakeTime(1_006.0)
    lim = weight_limiter(ft)
    first = await lim.acquire(20)
    lim.follow(WindowTerms(100, 10, 3.5))
    assert lim.used == 20 and lim.window_end(100) == 1_006.5
    lim.release(first)
    granted = [await lim.acquire(10) for _ in range(8)]  # 70 fit beside the 20; the 8th waits for 101
    assert ft.t == 1_006.5 and [g.window for g in granted] == [100] * 7 + [101]  # its turn, not ours (1010)
    assert lim.used == 80 and lim.window_end(101) == 1_016.5  # the 70 in flight are carried into 101


async def test_weight_in_flight_at_window_turn_is_charged_to_the_next_window() -> None:
    ft = FakeTime(1_009.0)
    lim = weight_limiter(ft)
    late = [await lim.acquire(10) for _ in range(3)]  # still in flight when the window turns
    ft.t = 1_010.5
    assert lim.used == 30
    for g in late:
        lim.release(g)
    assert lim.used == 30  # released after the turn: the server may have counted them now
    assert lim.budget - lim.used == 60


async def test_observe_takes_others_from_the_newest_answer_and_ignores_earlier_windows() -> None:
    ft = FakeTime()
    lim = weight_limiter(ft)
    g = await lim.acquire(2)
    lim.observe(50, g)  # another process on our IP spent 48
    assert lim.used == 50
    lim.release(g)
    in_flight = await lim.acquire(2)  # counted by the server, not yet answered
    answered = await lim.acquire(2)
    lim.observe(54, answered)  # ours 2 answered + 2 in flight + 2 this, others 48: over-counts by 2
    assert lim.used == 6 + 50
    lim.release(answered)
    lim.observe(54, in_flight)  # the newest answer corrects it
    lim.release(in_flight)
    assert lim.used == 6 + 48
    ft.t += 10
    g2 = await lim.acquire(2)
    lim.observe(80, g)  # from the previous window: not about this one
    assert lim.used == 2
    lim.observe(80, g2)
    assert lim.used == 80


async def test_pause_until_blocks_every_acquire() -> None:
    ft = FakeTime()
    lim = weight_limiter(ft)
    await lim.pause_until(1_003.5)
    g = await lim.acquire(1)
    assert g.at == 1_003.5


def test_terms_from_exchange_info_rate_limits() -> None:
    rate_limits = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 6, "limit": 600},
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 7200},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
    ]
    assert weight_terms(rate_limits, 0.25) == WindowTerms(600, 6, 0.25)  # the tightest: 100 a second
    lim = weight_limiter(FakeTime())
    lim.follow(weight_terms(rate_limits, 0.0))
    assert (lim.limit, lim.window_s, lim.budget) == (600, 6, 540)
    with pytest.raises(ValueError):
        weight_terms([{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100}], 0.0)


async def test_weight_larger_than_budget_is_refused() -> None:
    with pytest.raises(ValueError):
        await weight_limiter(FakeTime()).acquire(91)


async def test_token_bucket_burst_then_rate() -> None:
    ft = FakeTime()
    bucket = TokenBucket(10, 5, clock=ft.clock, sleep=ft.sleep)
    for _ in range(5):
        await bucket.acquire()
    assert ft.t == 1_000.0
    for _ in range(10):
        await bucket.acquire()
    assert ft.t == pytest.approx(1_001.0)
    await bucket.pause_until(1_005.0)
    assert (await bucket.acquire()).at == 1_005.0


async def test_a_new_window_length_keeps_what_was_granted_so_far_charged() -> None:
    ft = FakeTime()  # 1_000.0: 40 s into a 60 s window, the start of a 10 s one
    lim = WeightLimiter(6000, 60, safety_margin=0.1, clock=ft.clock, sleep=ft.sleep)
    lim.release(await lim.acquire(20))  # exchangeInfo, under the public default
    lim.follow(WindowTerms(100, 10))  # what it said: the server counted those 20 in its 10 s window
    assert lim.used == 20
    await lim.acquire(70)
    assert (await lim.acquire(2)).at == 1_010.0


async def test_a_count_below_what_the_server_had_of_ours_turns_our_window_at_once() -> None:
    """Our windows lag the exchange's by up to the offset's slack: an answer counting less than ours
    already answered in the window (plus itself) comes from the server's next window; ours turns
    then, keeping what is in flight, rather than granting the server's new window twice."""
    ft = FakeTime()  # 1_000.0: window 100 begins
    lim = weight_limiter(ft)
    lim.follow(WindowTerms(100, 10, 0.0, 0.5))
    early = await lim.acquire(40)
    assert lim.observe(40, early) == 100
    lim.release(early)
    ft.t = 1_009.8
    late = await lim.acquire(40)  # fits beside the 40 in our window 100
    assert late.answered_before == 40
    assert lim.observe(40, late) == 101  # 40 < 40 + 40: the server counts in its 101 already
    assert lim.offset_s == pytest.approx(0.2, abs=1e-5) and lim.window_end(100) == pytest.approx(1_009.8)
    lim.release(late)
    assert lim.used == 40  # the late one, counted by the server in 101, stays charged to it
    assert (await lim.acquire(50)).window == 101 and lim.used == 90


async def test_the_catch_up_stays_within_the_measured_bounds_and_ignores_reordered_answers() -> None:
    ft = FakeTime()
    lim = weight_limiter(ft)
    lim.follow(WindowTerms(100, 10, 0.0, 0.1))  # the exchange's clock is at most 0.1 s ahead
    first, second = await lim.acquire(10), await lim.acquire(10)
    assert lim.observe(10, second) == 100  # overtook the first on the way: nothing answered before it
    lim.release(second)
    assert lim.observe(10, first) == 100 and lim.offset_s == 0.0
    lim.release(first)
    ft.t = 1_009.5
    odd = await lim.acquire(10)
    assert lim.observe(0, odd) == 100  # a count no window of 0.1 s lag explains: no turn 0.5 s early
    assert lim.offset_s == pytest.approx(0.1) and lim.window_end(100) == pytest.approx(1_009.9)


async def test_what_was_answered_before_the_terms_were_known_is_no_evidence_of_a_turn() -> None:
    ft = FakeTime()
    lim = weight_limiter(ft)
    info = await lim.acquire(20)  # exchangeInfo: the exchange counted it in a window we did not know
    lim.observe(20, info)
    lim.release(info)
    lim.follow(WindowTerms(100, 10, 0.0, 0.5))
    klines = await lim.acquire(2)
    assert lim.observe(2, klines) == 100 and lim.offset_s == 0.0 and lim.used == 22
