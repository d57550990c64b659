"""`livermore simulator`: serve a simulated exchange on loopback until Ctrl-C."""

from __future__ import annotations

from typing import Annotated

import typer

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
    low, high = (float(x) for x in latency_ms.split(","))
    config = SimulatorConfig(
        exchange=exchange,  # type: ignore[arg-type]  # validated by pydantic
        symbols=symbols,
        window_s=window_s,
        weight_limit=weight_limit,
        latency_ms=(low, high),
        error_rate=fault_rate,
        seed=seed,
    )
    host = "127.0.0.1"
    typer.echo(f"{exchange} simulator at http://{host}:{port} (stats: /sim/stats); Ctrl-C to stop")
    run(config, host, port)
