"""The `livermore` command: scan, schedule, warmup, demo (and the simulator and the service)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import orjson
import typer
from redis.asyncio import Redis
from redis.exceptions import RedisError
from rich.console import Console

from livermore.cache import CandleCache
from livermore.config import Settings
from livermore.control.cli import send, serve
from livermore.exchanges import ExchangeError, make_adapter
from livermore.exchanges.cli import simulator
from livermore.exchanges.factory import EXCHANGES
from livermore.models import SCAN_TIMEFRAME_ORDER, Timeframe
from livermore.render import failures_table, reports_table, scan_table, schedule_table, warm
from livermore.warmup import (
    CandleStatusResult,
    CandleStatusScanner,
    SmartWarmupService,
    WarmupAlreadyRunning,
    WarmupSchedule,
    WarmupScheduleBuilder,
)

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
console = Console()
err = Console(stderr=True)
T = TypeVar("T")

RedisUrl = Annotated[str | None, typer.Option(help="Redis URL (default: LIVERMORE_REDIS_URL or redis://127.0.0.1:6379/0)")]
Symbols = Annotated[str, typer.Option(help="comma-separated symbols, e.g. BTC-USD,ETH-USD")]
Timeframes = Annotated[str, typer.Option(help="comma-separated timeframes")]
DEFAULT_TFS = ",".join(tf.value for tf in SCAN_TIMEFRAME_ORDER)


def fail(message: str) -> typer.Exit:
    """One clear line on stderr, exit code 1."""
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def run_async(main: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; known failures become one error line instead of a traceback."""
    try:
        return asyncio.run(main())
    except (RedisError, OSError) as e:
        raise fail(f"Redis is unreachable or failed: {e}") from None
    except (ExchangeError, WarmupAlreadyRunning, ValueError) as e:
        raise fail(str(e)) from None


def parse_symbols(symbols: str) -> list[str]:
    parsed = [s.strip() for s in symbols.split(",") if s.strip()]
    if not parsed:
        raise fail("no symbols given (e.g. --symbols BTC-USD,ETH-USD)")
    return parsed


def parse_timeframes(timeframes: str) -> list[Timeframe]:
    try:
        return Timeframe.parse_list(timeframes)
    except ValueError as e:
        raise fail(str(e)) from None


def settings_for(redis_url: str | None) -> Settings:
    settings = Settings()
    return settings.model_copy(update={"redis_url": redis_url}) if redis_url else settings


def print_json(doc: Any) -> None:
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")


ExchangeId = Annotated[int, typer.Option(help="exchange id in the key names (1 Coinbase, 2 Binance)")]
Json = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def scan_then(
    symbols: str, exchange_id: int, timeframes: str, redis_url: str | None,
    then: Callable[[Redis, Settings, list[CandleStatusResult]], Awaitable[T]],
) -> T:
    """Parse the common options, scan, and hand the results to `then` (same Redis connection)."""
    settings, syms, tfs = settings_for(redis_url), parse_symbols(symbols), parse_timeframes(timeframes)

    async def main() -> T:
        async with Redis.from_url(settings.redis_url) as redis:
            scanner = CandleStatusScanner(CandleCache(redis), settings.min_candle_threshold)
            return await then(redis, settings, await scanner.scan(exchange_id, syms, tfs))

    return run_async(main)


@app.command()
def scan(
    symbols: Symbols, exchange_id: ExchangeId = 1, timeframes: Timeframes = DEFAULT_TFS,
    redis_url: RedisUrl = None, json: Json = False,
) -> None:
    """Report which cached pairs are sufficient (count, freshness, holes)."""

    async def keep(redis: Redis, settings: Settings, results: list[CandleStatusResult]) -> list[CandleStatusResult]:
        return results

    results = scan_then(symbols, exchange_id, timeframes, redis_url, keep)
    if json:
        print_json([_result_dict(r) for r in results])
    else:
        console.print(scan_table(results))


def _result_dict(r: CandleStatusResult) -> dict[str, Any]:
    return {
        "symbol": r.symbol, "timeframe": r.timeframe.value, "cachedCount": r.cached_count,
        "newestOpenTime": r.newest_open_time, "sufficient": r.sufficient, "reason": r.reason,
    }


@app.command()
def schedule(
    symbols: Symbols, exchange_id: ExchangeId = 1, timeframes: Timeframes = DEFAULT_TFS,
    redis_url: RedisUrl = None, json: Json = False,
) -> None:
    """Scan, then build and persist the warmup schedule (only the pairs that need candles)."""

    async def persist(redis: Redis, settings: Settings, results: list[CandleStatusResult]) -> WarmupSchedule:
        return await WarmupScheduleBuilder(redis, settings.default_candle_target).build_and_persist(exchange_id, results)

    built = scan_then(symbols, exchange_id, timeframes, redis_url, persist)
    if json:
        print_json(built.model_dump(by_alias=True, mode="json"))
    else:
        console.print(schedule_table(built))


async def resolve_symbols(adapter: Any, symbols: str | None, top: int | None, quote: str) -> list[str]:
    """--symbols as given, or the exchange's top N by 24h quote volume."""
    if symbols:
        return parse_symbols(symbols)
    if top:
        return await adapter.top_symbols(top, quote)
    raise fail("give --symbols A,B or --top N")


@app.command()
def warmup(
    exchange: Annotated[str, typer.Option(help="binance, binance_us or coinbase")] = "binance",
    base_url: Annotated[str | None, typer.Option(help="REST base URL (e.g. the simulator's)")] = None,
    redis_url: RedisUrl = None,
    symbols: Annotated[str | None, typer.Option(help="comma-separated symbols")] = None,
    top: Annotated[int | None, typer.Option(help="warm the top N symbols by 24h quote volume")] = None,
    quote: Annotated[str, typer.Option(help="quote currency for --top")] = "USDT",
    timeframes: Timeframes = DEFAULT_TFS,
    policy: Annotated[str, typer.Option(help="smart (rate-limit driven) or seed (batches of 5, 1 s pause)")] = "smart",
    exchange_id: Annotated[int | None, typer.Option(help="override the exchange id used in keys")] = None,
    json: Annotated[bool, typer.Option("--json", help="print one JSON report on stdout")] = False,
) -> None:
    """Scan, schedule and fetch only what is missing, at the exchange's rate limit."""
    if exchange not in EXCHANGES:
        raise fail(f"unknown exchange {exchange!r} (supported: {', '.join(EXCHANGES)})")
    if policy not in ("smart", "seed"):
        raise fail(f"unknown policy {policy!r} (smart, seed)")
    settings, tfs = settings_for(redis_url), parse_timeframes(timeframes)

    async def main() -> Any:
        adapter = make_adapter(exchange, base_url=base_url, settings=settings, exchange_id=exchange_id)
        try:
            async with Redis.from_url(settings.redis_url) as redis:
                await redis.ping()
                syms = await resolve_symbols(adapter, symbols, top, quote)
                service = SmartWarmupService(redis, adapter, settings, policy=policy)  # type: ignore[arg-type]
                return await warm(service, adapter.exchange_id, syms, tfs, f"warmup {exchange}", None if json else console)
        finally:
            await adapter.close()

    report = run_async(main)
    if json:
        print_json({k: v for k, v in report.as_dict().items() if k != "exchange_id"})
    else:
        console.print(reports_table([(f"{exchange} ({policy})", report)]))
        if report.failures:
            console.print(failures_table(report))
    if report.failed or report.status != "complete":
        raise typer.Exit(2)


@app.command()
def demo(
    fresh: Annotated[bool, typer.Option("--fresh", help="wipe the demo's Redis data first")] = False,
    symbols: Annotated[int, typer.Option(help="how many simulated symbols to warm")] = 50,
) -> None:
    """Start a private Redis and the exchange simulator, warm every pair, then warm again (0 REST calls)."""
    from livermore.demo import run_demo

    reports = run_async(lambda: run_demo(console, fresh=fresh, symbols=symbols))
    console.print(reports_table(reports))


app.command()(simulator)
app.command()(serve)
app.command()(send)
