"""Processes on one IP share its rate budget; processes on separate IPs add theirs.

one_ip: four `livermore warmup` processes on 127.0.0.1 split the same pairs (exchange ids 2, 12, 22,
32: four runs, no shared warmup lease), at Binance's ratio (6000 weight a minute = 100 a second) on a
2 s window. The simulator's own count for the IP says how they did: windows over the limit, 429s,
418s, and `budget_share`, the mean weight of the full windows over the limit: at most 1 minus the
safety margin, 5% here as in bench/warmup.py (10% by default). The margin absorbs what the shared
count cannot know: weight still in flight when a window turns reaches it with its process's next
grant, and a process's windows turn up to a round trip after the exchange's until an answer's count
shows it turned (then they catch up). On a 2 s window both are 30 times more of the budget than on
Binance's minute (a busy run of `make bench` drew 5 429s at 5% before the catch-up). Every other
request is counted in the shared window before it is sent, the exchangeInfo of a process starting
beside busy ones included (under the public default it drew 9-10 429s at a 5% margin with starts
0.5-1.3 s apart). The run is long enough (25 windows) that the window in which the processes start,
some still scanning, weighs little.

ccxt_one_ip: the same pairs fetched by four ccxt bots (`enableRateLimit`, each its own OS process and
so its own limiter, as separate bots are) on the same IP against a fresh simulator: their 429s and
418s. Each bot asks for all its pairs at once, once each, and lets ccxt's throttle pace them.

speedup: one, two and four `livermore worker` processes, each on its own source IP (and budget),
drain one schedule of `livermore warmup --no-drain` (fresh Redis and simulator each time): the run's
wall time (its `duration_ms`) and t1 / tN, with each IP's 429s and its mean share of the windows.
The same pairs each time (no touch-up pass: a longer run would find more intervals closed and
flatter the speed-up), 240 symbols, at half of Binance's ratio per IP (50 weight a second). At the
full ratio four IPs ask for 200 pages a second, and this 2-core machine, which also serves them as
the exchange (in the benchmark's own process) and runs Redis, is then out of CPU before the IPs are
out of budget: 3.37-3.72x measured in `make bench`, with the IPs' windows at 0.79 of the limit in
the slow runs; 3.70-3.94x run alone. The exchange's CPU is not ours to spend in production. Four
IPs take 8 or 9 windows, by the phase of the window the run begins in (a first window begun near
its end is mostly lost, and its burst's weight in flight at the turn is charged to the next one
too; one worker's 32 windows hardly notice), so t4 moves by up to a window from one run to the
next. For the same reason as above the simulator's prices are computed once before the runs
(in-process, nothing counted), as an exchange serves its history from storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

import ccxt.async_support as ccxt_async

from harness import SRC, Stack, stack
from livermore.models import Timeframe
from livermore.simulator import Simulator, SimulatorConfig
from workers import workers

LIMIT, WINDOW_S = 200, 2
CONFIG = SimulatorConfig(
    exchange="binance", symbols=400, window_s=WINDOW_S, weight_limit=LIMIT, latency_ms=(50.0, 150.0)
)
TIMEFRAMES = [Timeframe.M1, Timeframe.M5, Timeframe.M15, Timeframe.H1, Timeframe.H4, Timeframe.D1]
SPEEDUP_CONFIG = CONFIG.model_copy(update={"symbols": 240, "weight_limit": LIMIT // 2})
ONE_IP_ENV = {"LIVERMORE_SAFETY_MARGIN": "0.05"}
SPEEDUP_ENV = {"LIVERMORE_RECLAIM_IDLE_S": "5", "LIVERMORE_TOUCH_UP_PASSES": "0"}
EXCHANGE_IDS = (2, 12, 22, 32)
SOURCES = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
RUN_TIMEOUT_S = 120


def shares(symbols: list[str], n: int) -> list[list[str]]:
    return [symbols[i::n] for i in range(n)]


def by_ip(s: Stack) -> dict[str, Any]:
    by_client: dict[str, Any] = s.sim.simulator.stats()["by_client"]  # type: ignore[assignment]
    return by_client


def full_windows(windows: dict[str, int]) -> list[int]:
    """The weight of each window but the first and the last (partial: the run began or ended in them);
    windows inside the run with nothing sent count as 0."""
    indices = sorted(int(w) for w in windows)
    return [windows.get(str(w), 0) for w in range(indices[0] + 1, indices[-1])]


def share_of(windows: dict[str, int], limit: int) -> float:
    """The mean weight of the full windows, as a share of `limit`."""
    full = full_windows(windows)
    return round(sum(full) / len(full) / limit, 3) if full else 0.0


async def one_ip() -> dict[str, Any]:
    prime(CONFIG)
    async with stack(CONFIG) as s:
        parts = shares(s.symbols(CONFIG.symbols), len(EXCHANGE_IDS))
        runs = [
            await s.warmup(part, TIMEFRAMES, "--exchange-id", str(eid), "--source-address", "127.0.0.1", env=ONE_IP_ENV)
            for eid, part in zip(EXCHANGE_IDS, parts, strict=True)
        ]
        codes = [await run.ended(RUN_TIMEOUT_S) for run in runs]
        ip = by_ip(s)["127.0.0.1"]
    full = full_windows(ip["windows"])
    figures = {
        "processes": len(runs),
        "safety_margin": float(ONE_IP_ENV["LIVERMORE_SAFETY_MARGIN"]),
        "budget_share": share_of(ip["windows"], LIMIT),
        "throttled": ip["throttled"],
        "banned": ip["banned"],
        "windows_over_limit": sum(weight > LIMIT for weight in ip["windows"].values()),
        "complete": codes == [0] * len(runs),
    }
    print(
        f"scale one_ip: {len(runs)} warmups on one IP: budget share {figures['budget_share']:.3f} of {LIMIT} per "
        f"{WINDOW_S} s window ({len(full)} full windows, peak {ip['peak_window_weight']}), windows over the limit "
        f"{figures['windows_over_limit']}, 429s {ip['throttled']}, 418s {ip['banned']}, exit codes {codes}"
    )
    return figures


async def ccxt_bot(base_url: str, symbol_ids: list[str]) -> None:
    """One bot: ccxt's binance with its rate limiter, every (symbol, timeframe) klines asked for at
    once, once (the throttle spaces them): what its limiter alone does, before any retry policy."""
    exchange = ccxt_async.binance(
        {"enableRateLimit": True, "options": {"fetchMarkets": ["spot"], "fetchCurrencies": False}}
    )
    for key in [k for k, v in exchange.urls["api"].items() if isinstance(v, str)]:
        exchange.urls["api"][key] = f"{base_url}/api/v3"

    async def klines(symbol_id: str, timeframe: Timeframe) -> None:
        with contextlib.suppress(ccxt_async.BaseError):  # counted by the simulator
            await exchange.fetch_ohlcv(exchange.markets_by_id[symbol_id][0]["symbol"], timeframe.value, limit=100)

    try:
        await exchange.load_markets()
        await asyncio.gather(*(klines(sym, tf) for sym in symbol_ids for tf in TIMEFRAMES))
    finally:
        await exchange.close()


async def ccxt_one_ip() -> dict[str, Any]:
    async with stack(CONFIG) as s:
        parts = shares(s.symbols(CONFIG.symbols), len(EXCHANGE_IDS))
        env = {"PYTHONPATH": f"{SRC}:{SRC.parent}"}
        bots = [
            await asyncio.create_subprocess_exec(sys.executable, __file__, s.sim.base_url, ",".join(part), env=env)
            for part in parts
        ]
        codes = [await asyncio.wait_for(bot.wait(), RUN_TIMEOUT_S) for bot in bots]
        ip = by_ip(s)["127.0.0.1"]
    figures = {"processes": len(bots), "throttled": ip["throttled"], "banned": ip["banned"]}
    print(
        f"scale ccxt_one_ip: {len(bots)} ccxt bots on one IP: 429s {ip['throttled']}, 418s {ip['banned']}, "
        f"peak window weight {ip['peak_window_weight']} of {LIMIT}, {ip['requests']} requests, exit codes {codes}"
    )
    return figures


def prime(config: SimulatorConfig) -> None:
    """Compute the prices of every candle the runs ask for (the simulator's cache is per process)."""
    sim = Simulator(config)
    now = sim.now_ms()
    for symbol in sorted(sim.listings)[: config.symbols]:
        for tf in TIMEFRAMES:
            sim.candles(symbol, tf, tf.floor(now) - 120 * tf.ms, now)


async def drain(n: int) -> tuple[float, dict[str, Any]]:
    """The run's wall time (s) with `n` workers on their own IPs, and each IP's counts."""
    async with stack(SPEEDUP_CONFIG) as s:
        await workers(s, n, SOURCES[:n], env=SPEEDUP_ENV)
        await asyncio.sleep(2)  # the workers are up (imported, polling) before the run begins
        run = await s.warmup(s.symbols(SPEEDUP_CONFIG.symbols), TIMEFRAMES, "--no-drain", env=SPEEDUP_ENV)
        await run.ended(RUN_TIMEOUT_S)
        stats = await s.stats()
        clients = by_ip(s)
    if stats is None or stats.outcome != "complete":
        raise RuntimeError(f"the run with {n} workers did not complete: {stats}")
    budget = SPEEDUP_CONFIG.weight_limit
    return stats.duration_ms / 1000, {
        ip: {"throttled": clients[ip]["throttled"], "share": share_of(clients[ip]["windows"], budget)}
        for ip in SOURCES[:n]
        if ip in clients
    }


async def speedup() -> dict[str, Any]:
    prime(SPEEDUP_CONFIG)
    times: dict[str, float] = {}
    per_ip: dict[str, Any] = {}
    for n in (1, 2, 4):
        times[str(n)], ips = await drain(n)
        per_ip |= {f"{n}:{ip}": figures for ip, figures in ips.items()}
    throttled = sum(figures["throttled"] for figures in per_ip.values())
    figures = {
        **{n: round(times["1"] / t, 2) for n, t in times.items()},
        "seconds": {n: round(t, 2) for n, t in times.items()},
        "weight_per_ip_per_s": SPEEDUP_CONFIG.weight_limit / WINDOW_S,
        "throttled": throttled,
        "per_ip": per_ip,
    }
    print(
        "scale speedup: workers on their own IPs: "
        + ", ".join(f"{n}: {t:.1f} s ({figures[n]:.2f}x)" for n, t in times.items())
        + f" | 429s {throttled} | budget share per IP "
        + ", ".join(f"{k} {v['share']:.2f}" for k, v in per_ip.items())
    )
    return figures


if __name__ == "__main__":  # one ccxt bot (ccxt_one_ip): BASE_URL SYMBOL_IDS
    asyncio.run(ccxt_bot(sys.argv[1], sys.argv[2].split(",")))
