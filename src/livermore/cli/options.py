"""What every command shares: its options, settings from flags, and one-line errors instead of tracebacks."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

import orjson
import typer
from pydantic import ValidationError
from redis.exceptions import RedisError
from rich.console import Console

from livermore.config import Settings
from livermore.errors import LivermoreError, UsageError
from livermore.exchanges import EXCHANGES, exchange_spec
from livermore.exchanges.shared import check_egress
from livermore.models import SCAN_TIMEFRAME_ORDER, Timeframe
from livermore.warmup.ending import StopRequest
from livermore.warmup.stats import Outcome

T = TypeVar("T")
console = Console()
err = Console(stderr=True, soft_wrap=True)  # an error is one line, however long

RedisUrl = Annotated[
    str | None, typer.Option(help="Redis URL (default: LIVERMORE_REDIS_URL or redis://127.0.0.1:6379/0)")
]
Exchange = Annotated[str, typer.Option(help=", ".join(EXCHANGES))]
ExchangeId = Annotated[
    int | None, typer.Option(help="override the exchange id used in key names (1 Coinbase, 2 Binance)")
]
BaseUrl = Annotated[str | None, typer.Option(help="REST base URL (e.g. the simulator's)")]
Symbols = Annotated[str, typer.Option(help="comma-separated symbols, e.g. BTC-USD,ETH-USD")]
Timeframes = Annotated[str, typer.Option(help="comma-separated timeframes")]
Json = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
Egress = Annotated[
    str | None,
    typer.Option(
        help="label of the IP this process sends from: processes with one label share one rate budget in Redis "
        "(default: LIVERMORE_EGRESS, else the source address, else 'default')"
    ),
]
SourceAddress = Annotated[
    str | None,
    typer.Option(
        help="local IP the exchange requests leave from, e.g. 127.0.0.2 (default: LIVERMORE_SOURCE_ADDRESS, else "
        "the system's choice)"
    ),
]
Sub = Annotated[str | None, typer.Option(help="control channel suffix (default: LIVERMORE_COMMAND_SUB or 'default')")]
DrainHere = Annotated[
    bool,
    typer.Option(
        "--drain/--no-drain",
        help="fetch here too; --no-drain: only scan and schedule, `livermore worker` processes fetch",
    ),
]
DEFAULT_EXCHANGE = "binance"
DEFAULT_TFS = ",".join(tf.value for tf in SCAN_TIMEFRAME_ORDER)

# Exit codes, as README.md documents them.
EXIT_ERROR = 1  # bad input, or Redis unreachable: nothing was done
EXIT_SIGINT = 130  # a second Ctrl-C: ended at once
OUTCOME_EXIT: dict[Outcome, int] = {
    "complete": 0,
    "failed": 2,  # the run went to its end, some pairs failed (the report says which and why)
    "cancelled": 3,  # stopped before its end: by an operator, a signal or a shutdown
    "interrupted": 3,
    "banned": 4,  # the exchange banned our IP (HTTP 418): nothing more is sent until the ban ends
    "exchange_unreachable": 5,  # the exchange's symbol list could not be had: nothing was fetched
}


def fail(message: str) -> typer.Exit:
    """One clear line on stderr, exit code 1."""
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(EXIT_ERROR)


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine; known failures become one error line instead of a traceback."""
    try:
        return asyncio.run(main())
    except (RedisError, OSError) as e:
        raise fail(f"Redis is unreachable or failed: {e}") from None
    except (LivermoreError, ValueError) as e:
        raise fail(str(e)) from None
    except KeyboardInterrupt:
        err.print("interrupted", highlight=False)
        raise typer.Exit(EXIT_SIGINT) from None


def announce(line: str) -> None:
    """A long-running command's own line on stdout, flushed at once (a supervisor's log reads it)."""
    print(line, flush=True)


def log_as_a_service() -> None:
    """Timestamped INFO logs for the long-running commands (`serve`, `worker`); httpx's line per REST
    call would drown the service's own."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)


def run_until_signalled(main: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
    """Run `main(stop)` (through `run_async`) with SIGINT/SIGTERM setting `stop`: a long-running
    command ends its work cleanly and exits 0."""

    async def signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    run_async(signalled)


def interrupt_on_signals(stop: StopRequest) -> None:
    """Ctrl-C or SIGTERM ends the run at the next entry, with its final stats written (`interrupted`);
    a second one ends the process at once (the stats then say interrupted to whoever reads them)."""
    loop = asyncio.get_running_loop()

    def interrupt(sig: signal.Signals) -> None:
        err.print(f"{sig.name}: stopping at the next entry (again to quit at once)", highlight=False)
        stop.request("interrupted", f"interrupted by {sig.name}")
        loop.remove_signal_handler(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt, sig)


def settings_for(redis_url: str | None, **overrides: Any) -> Settings:
    """Settings from the environment, with the flags that were given on top."""
    changes = {"redis_url": redis_url, **overrides}
    try:
        settings = Settings()
    except ValidationError as e:  # a bad LIVERMORE_* variable
        first = e.errors()[0]
        name = f"LIVERMORE_{str(first['loc'][0]).upper()}" if first["loc"] else "a LIVERMORE_ variable"
        raise fail(f"{name}: {first['msg']} (got {first.get('input')!r})") from None
    return settings.model_copy(update={k: v for k, v in changes.items() if v is not None})


def egress_settings(
    redis_url: str | None, egress: str | None, source_address: str | None, **overrides: Any
) -> Settings:
    """Settings for a command that sends to the exchange: `--egress` and `--source-address` on top."""
    if source_address is not None:
        try:
            ipaddress.ip_address(source_address)
        except ValueError:
            raise fail(f"--source-address: {source_address!r} is not an IP address") from None
    settings = settings_for(redis_url, egress=egress, source_address=source_address, **overrides)
    try:
        check_egress(settings.egress_label)
    except ValueError as e:
        raise fail(str(e)) from None
    return settings


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


def exchange_id_for(exchange: str, exchange_id: int | None) -> int:
    """The id in key names: --exchange-id if given, else the exchange's own."""
    try:
        return exchange_spec(exchange).exchange_id if exchange_id is None else exchange_id
    except UsageError as e:
        raise fail(str(e)) from None


def print_json(doc: Any) -> None:
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
