"""The `livermore` command: one typer app, every command registered here."""

from __future__ import annotations

import typer

from livermore.cli.commands import demo, scan, schedule, status, warmup
from livermore.cli.send import send
from livermore.cli.serve import serve
from livermore.cli.simulator import simulator

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Keep a Redis cache of exchange OHLCV candles complete and fresh: scan, schedule, warm up, serve.",
)
for command in (scan, schedule, warmup, status, demo, simulator, serve, send):
    app.command()(command)
