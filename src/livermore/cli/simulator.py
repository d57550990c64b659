"""`livermore simulator`: serve a simulated exchange on loopback until Ctrl-C."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from livermore.cli.options import EXIT_SIGINT, err, fail
from livermore.simulator import SimulatorConfig
from livermore.simulator.server import run


def simulator(
    exchange: Annotated[str, typer.Option(help="binance or coinbase")] = "binance",
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8900,
    symbols: Annotated[int, typer.Option(help="how many symbols to list")] = 50,
    window_s: Annotated[float, typer.Option(help="Binance weight window (whole seconds)")] = 60,
    weight_limit: Annotated[int, typer.Option(help="Binance weight per window")] = 6000,
    latency_ms: Annotated[str, typer.Option(help="min,max added latency in ms")] = "0,0",
    fault_rate: Annotated[float, typer.Option(help="share of requests answered 500/503")] = 0.0,
    seed: Annotated[int, typer.Option(help="market seed (same seed, same candles)")] = 1,
) -> None:
    """Serve a deterministic exchange simulator (real wire formats and rate limits)."""
    config = _config(exchange, symbols, window_s, weight_limit, _latency(latency_ms), fault_rate, seed)
    host = "127.0.0.1"
    typer.echo(f"{exchange} simulator at http://{host}:{port} (stats: /sim/stats); Ctrl-C to stop")
    try:
        run(config, host, port)
    except OSError as e:  # the bind: a port in use, or one we may not take
        raise fail(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    except KeyboardInterrupt:
        err.print("interrupted", highlight=False)
        raise typer.Exit(EXIT_SIGINT) from None


def _latency(latency_ms: str) -> tuple[float, float]:
    """`--latency-ms MIN,MAX`: two numbers, MIN <= MAX."""
    try:
        low, high = (float(x) for x in latency_ms.split(","))
    except ValueError:
        raise fail(f"--latency-ms takes MIN,MAX in ms (e.g. 20,80), not {latency_ms!r}") from None
    if not 0 <= low <= high:
        raise fail(f"--latency-ms needs 0 <= MIN <= MAX, got {latency_ms!r}")
    return low, high


def _config(
    exchange: str,
    symbols: int,
    window_s: float,
    weight_limit: int,
    latency: tuple[float, float],
    fault_rate: float,
    seed: int,
) -> SimulatorConfig:
    """The simulator's config, or one line naming the first bad option."""
    try:
        return SimulatorConfig(
            exchange=exchange,  # type: ignore[arg-type]  # validated by pydantic
            symbols=symbols,
            window_s=window_s,
            weight_limit=weight_limit,
            latency_ms=latency,
            error_rate=fault_rate,
            seed=seed,
        )
    except ValidationError as e:
        first = e.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        if field == "exchange":
            raise fail(f"unknown simulated exchange {exchange!r} (binance, coinbase)") from None
        option = {"error_rate": "fault-rate", "": "window-s"}.get(field, field.replace("_", "-"))
        raise fail(f"--{option}: {first['msg'].removeprefix('Value error, ')}") from None
