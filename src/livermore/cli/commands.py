"""`livermore scan`, `schedule`, `status`, `warmup` and `demo`."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from redis.exceptions import RedisError

from livermore.cli.options import (
    DEFAULT_EXCHANGE,
    DEFAULT_TFS,
    OUTCOME_EXIT,
    BaseUrl,
    DrainHere,
    Egress,
    Exchange,
    ExchangeId,
    Json,
    RedisUrl,
    SourceAddress,
    Symbols,
    Timeframes,
    console,
    egress_settings,
    err,
    exchange_id_for,
    fail,
    interrupt_on_signals,
    parse_symbols,
    parse_timeframes,
    print_json,
    run_async,
    settings_for,
)
from livermore.cli.progress import warm
from livermore.cli.render import failures_table, reports_table, scan_table, schedule_table, status_summary
from livermore.config import Settings
from livermore.connection import RedisClient, ping_every_master
from livermore.exchanges import ExchangeAdapter
from livermore.keys import warmup_schedule_key
from livermore.models import Timeframe, now_ms
from livermore.service import adapter_for, builder_for, presence_while_warming, redis_client, scanner_for, warmup_for
from livermore.warmup import CandleStatusResult, WarmupSchedule, WarmupStats
from livermore.warmup.ending import StopRequest
from livermore.warmup.store import WarmupStore


def scan(
    symbols: Symbols,
    exchange: Exchange = DEFAULT_EXCHANGE,
    exchange_id: ExchangeId = None,
    timeframes: Timeframes = DEFAULT_TFS,
    redis_url: RedisUrl = None,
    json: Json = False,
) -> None:
    """Report which cached pairs are sufficient (count, freshness, holes)."""
    query = _query(symbols, exchange, exchange_id, timeframes, redis_url)

    async def main() -> list[CandleStatusResult]:
        async with redis_client(query.settings.redis_url) as redis:
            return await query.scan(redis)

    results = run_async(main)
    if json:
        print_json([_result_dict(r) for r in results])
    else:
        console.print(scan_table(results))


def schedule(
    symbols: Symbols,
    exchange: Exchange = DEFAULT_EXCHANGE,
    exchange_id: ExchangeId = None,
    timeframes: Timeframes = DEFAULT_TFS,
    redis_url: RedisUrl = None,
    json: Json = False,
    save: Annotated[
        bool, typer.Option("--save", help="write it to the live schedule key the service and the page read")
    ] = False,
) -> None:
    """Scan, then build the warmup schedule (only the pairs that need candles): a dry run unless --save."""
    query = _query(symbols, exchange, exchange_id, timeframes, redis_url)

    async def main() -> WarmupSchedule:
        async with redis_client(query.settings.redis_url) as redis:
            built = builder_for(query.settings).build(query.exchange_id, await query.scan(redis))
            if save:
                await WarmupStore(redis).save_schedule(built)
            return built

    built = run_async(main)
    if json:
        print_json(built.to_dict())
    else:
        console.print(schedule_table(built))
    key = warmup_schedule_key(query.exchange_id)
    err.print(f"saved to {key}" if save else f"dry run: {key} left as it was (--save writes it)", highlight=False)


def status(
    exchange: Exchange = DEFAULT_EXCHANGE,
    exchange_id: ExchangeId = None,
    redis_url: RedisUrl = None,
    json: Annotated[bool, typer.Option("--json", help="print {stats, schedule} as JSON (times in ms)")] = False,
) -> None:
    """What the last (or the running) warmup did, read from Redis: outcome, counts, duration,
    failures and the schedule. A run whose process is gone is shown `interrupted`."""
    eid = exchange_id_for(exchange, exchange_id)
    settings = settings_for(redis_url)

    async def main() -> tuple[WarmupStats | None, WarmupSchedule | None]:
        async with redis_client(settings.redis_url) as redis:
            store = WarmupStore(redis)
            return await store.load_stats(eid), await store.load_schedule(eid)

    stats, built = run_async(main)
    if json:
        print_json(
            {
                "exchangeId": eid,
                "stats": stats.to_dict() if stats else None,
                "schedule": built.to_dict() if built else None,
            }
        )
    else:
        console.print(status_summary(eid, stats, built, now_ms()), soft_wrap=True, highlight=False)


@dataclass(frozen=True)
class _PairsQuery:
    """What `scan` and `schedule` were asked about, parsed."""

    settings: Settings
    exchange_id: int
    symbols: list[str]
    timeframes: list[Timeframe]

    async def scan(self, redis: RedisClient) -> list[CandleStatusResult]:
        return await scanner_for(redis, self.settings).scan(self.exchange_id, self.symbols, self.timeframes)


def _query(symbols: str, exchange: str, exchange_id: int | None, timeframes: str, redis_url: str | None) -> _PairsQuery:
    return _PairsQuery(
        settings_for(redis_url),
        exchange_id_for(exchange, exchange_id),
        parse_symbols(symbols),
        parse_timeframes(timeframes),
    )


def _result_dict(r: CandleStatusResult) -> dict[str, Any]:
    return {
        "symbol": r.symbol,
        "timeframe": r.timeframe.value,
        "cachedCount": r.cached_count,
        "newestOpenTime": r.newest_open_time,
        "sufficient": r.sufficient,
        "reason": r.reason,
    }


async def resolve_symbols(adapter: ExchangeAdapter, symbols: str | None, top: int | None, quote: str) -> list[str]:
    """--symbols as given, or the exchange's top N by 24h quote volume."""
    if symbols:
        return parse_symbols(symbols)
    if top:
        return await adapter.top_symbols(top, quote)
    raise fail("give --symbols A,B or --top N")


def warmup(
    exchange: Exchange = DEFAULT_EXCHANGE,
    base_url: BaseUrl = None,
    redis_url: RedisUrl = None,
    symbols: Annotated[str | None, typer.Option(help="comma-separated symbols")] = None,
    top: Annotated[int | None, typer.Option(help="warm the top N symbols by 24h quote volume")] = None,
    quote: Annotated[str, typer.Option(help="quote currency for --top")] = "USDT",
    timeframes: Timeframes = DEFAULT_TFS,
    policy: Annotated[str, typer.Option(help="smart (rate-limit driven) or seed (batches of 5, 1 s pause)")] = "smart",
    exchange_id: ExchangeId = None,
    json: Annotated[bool, typer.Option("--json", help="print the run's final stats as JSON on stdout")] = False,
    drain: DrainHere = True,
    egress: Egress = None,
    source_address: SourceAddress = None,
) -> None:
    """Scan, schedule and fetch only what is missing, at the exchange's rate limit (shared in Redis
    with every process on the same egress), with any `livermore worker` processes of the exchange."""
    exchange_id_for(exchange, exchange_id)  # an unknown exchange fails here, before anything runs
    if policy not in ("smart", "seed"):
        raise fail(f"unknown policy {policy!r} (smart, seed)")
    settings = egress_settings(redis_url, egress, source_address, drain_locally=drain)
    tfs = parse_timeframes(timeframes)

    async def main() -> WarmupStats:
        async with redis_client(settings.redis_url) as redis:
            await ping_every_master(redis)  # fail at once, not at the first key on a dead master
            adapter = adapter_for(settings, exchange, base_url=base_url, exchange_id=exchange_id, redis=redis)
            try:
                syms = await resolve_symbols(adapter, symbols, top, quote)
                service = warmup_for(redis, adapter, settings, policy=policy)  # type: ignore[arg-type]  # checked above
                stop = StopRequest()
                interrupt_on_signals(stop)
                view = None if json else console
                async with presence_while_warming(redis, adapter, settings, syms) as presence:
                    report = await warm(service, adapter.exchange_id, syms, tfs, f"warmup {exchange}", view, stop)
                    if presence is not None:
                        with contextlib.suppress(RedisError, OSError):  # Redis gone: the key expires
                            await presence.follow(report)  # active, with the run's error if any, then stopped
                    return report
            finally:
                await adapter.close()

    report = run_async(main)
    if json:
        print_json(report.to_dict())
    else:
        console.print(reports_table([(f"{exchange} ({policy})", report)]))
        if report.failures:
            console.print(failures_table(report))
    if report.outcome != "complete":
        err.print(f"{report.outcome}: {report.message}", highlight=False)  # one line, whatever stdout is
        raise typer.Exit(OUTCOME_EXIT[report.outcome or "interrupted"])


def demo(
    fresh: Annotated[bool, typer.Option("--fresh", help="wipe the demo's Redis data first")] = False,
    symbols: Annotated[int, typer.Option(help="how many simulated symbols to warm")] = 50,
) -> None:
    """Start a private Redis and the exchange simulator, warm every pair, then warm again (it fetches
    only the tails of candles that closed in between: usually 0 REST calls)."""
    from livermore.cli.demo import run_demo  # the demo's servers are needed by it alone

    reports = run_async(lambda: run_demo(console, fresh=fresh, symbols=symbols))
    console.print(reports_table(reports))
