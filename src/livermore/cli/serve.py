"""`livermore serve`: the long-running service (control channel and admin web app)."""

from __future__ import annotations

import asyncio
import socket
from typing import Annotated

import typer

from livermore.cli.options import (
    DEFAULT_EXCHANGE,
    DEFAULT_TFS,
    BaseUrl,
    DrainHere,
    Egress,
    Exchange,
    ExchangeId,
    RedisUrl,
    SourceAddress,
    Sub,
    announce,
    egress_settings,
    exchange_id_for,
    fail,
    log_as_a_service,
    parse_timeframes,
    run_until_signalled,
)
from livermore.service import ServeOptions
from livermore.service import serve as serve_until


def serve(
    exchange: Exchange = DEFAULT_EXCHANGE,
    exchange_id: ExchangeId = None,
    redis_url: RedisUrl = None,
    base_url: BaseUrl = None,
    host: Annotated[
        str | None, typer.Option(help="admin web app bind address (default: LIVERMORE_ADMIN_HOST or 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="admin web app port (default: LIVERMORE_ADMIN_PORT or 8080)")] = None,
    autostart: Annotated[bool, typer.Option(help="run `start` (smart warmup) at boot")] = False,
    symbols: Annotated[str | None, typer.Option(help="seed the monitored set (when empty): A,B,C")] = None,
    top: Annotated[
        int | None, typer.Option(help="seed the monitored set (when empty) with the top N by volume")
    ] = None,
    quote: Annotated[str, typer.Option(help="quote currency for --top")] = "USDT",
    timeframes: Annotated[str, typer.Option(help="timeframes to keep warm")] = DEFAULT_TFS,
    sub: Sub = None,
    drain: DrainHere = True,
    egress: Egress = None,
    source_address: SourceAddress = None,
) -> None:
    """Serve one exchange: control channel + admin web app, until SIGTERM/SIGINT."""
    log_as_a_service()
    tfs = parse_timeframes(timeframes)
    exchange_id_for(exchange, exchange_id)  # an unknown exchange fails here, before anything runs
    settings = egress_settings(
        redis_url, egress, source_address, command_sub=sub, admin_host=host, admin_port=port, drain_locally=drain
    )
    _check_port(settings.admin_host, settings.admin_port)
    options = ServeOptions(
        exchange=exchange,
        timeframes=tfs,
        base_url=base_url,
        exchange_id=exchange_id,
        autostart=autostart,
        seed_symbols=[s for s in (symbols or "").split(",") if s.strip()] or None,
        seed_top=top,
        quote=quote,
    )

    async def main(stop: asyncio.Event) -> None:
        await serve_until(settings, options, stop, announce)

    run_until_signalled(main)


def _check_port(host: str, port: int) -> None:
    """A port in use (or a host we cannot bind) is said in one line before anything starts; the web
    server would otherwise find it only after the control channel is up."""
    if port == 0:
        return
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        raise fail(f"cannot listen on {host}:{port}: {e.strerror or e} (choose another with --port)") from None
