"""`livermore serve` (the long-running service) and `livermore send` (one control command)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Annotated, Any

import orjson
import typer
from redis.asyncio import Redis

from livermore.cli.options import (
    DEFAULT_EXCHANGE,
    DEFAULT_TFS,
    BaseUrl,
    Exchange,
    ExchangeId,
    RedisUrl,
    Sub,
    exchange_id_for,
    run_async,
    settings_for,
)
from livermore.control.client import FINAL, ControlClient
from livermore.control.protocol import DEFAULT_PRIORITY, Response
from livermore.models import Timeframe
from livermore.service import ServeOptions, adapter_for
from livermore.service import serve as serve_until


def _announce(line: str) -> None:
    print(line, flush=True)


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
) -> None:
    """Serve one exchange: control channel + admin web app, until SIGTERM/SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per REST call drowns the service's own
    try:
        tfs = Timeframe.parse_list(timeframes)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--timeframes") from None
    exchange_id_for(exchange, exchange_id)  # an unknown exchange fails here, before anything runs
    settings = settings_for(redis_url, command_sub=sub, admin_host=host, admin_port=port)
    options = ServeOptions(
        timeframes=tfs,
        autostart=autostart,
        seed_symbols=[s for s in (symbols or "").split(",") if s.strip()] or None,
        seed_top=top,
        quote=quote,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        adapter = adapter_for(settings, exchange, base_url=base_url, exchange_id=exchange_id)
        try:
            await serve_until(settings, adapter, options, stop, _announce)
        finally:
            await adapter.close()

    run_async(main)


def send(
    command_type: Annotated[
        str,
        typer.Argument(
            metavar="TYPE",
            help="start, status, cancel, force-backfill, add-symbol, remove-symbol, bulk-add-symbols, clear-cache",
        ),
    ],
    payload: Annotated[str | None, typer.Option(help='JSON object, e.g. \'{"symbol": "BTCUSDT"}\'')] = None,
    wait: Annotated[bool, typer.Option(help="wait for success/error, not only the ack")] = True,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the reply")] = 60.0,
    priority: Annotated[int, typer.Option(min=1, max=100, help="1..100, lower runs first")] = DEFAULT_PRIORITY,
    redis_url: RedisUrl = None,
    sub: Sub = None,
) -> None:
    """Publish one command on the control channel and print its replies, one JSON line each."""
    body = _parse_payload(payload)
    settings = settings_for(redis_url, command_sub=sub)
    until = FINAL if wait else frozenset({"ack", *FINAL})

    def show(reply: Response) -> None:
        _announce(reply.to_json().decode())

    async def main() -> list[Response]:
        async with Redis.from_url(settings.redis_url) as redis, ControlClient(redis, settings.command_sub) as client:
            cid = await client.send(command_type, body, priority=priority)
            return await client.wait_for(cid, until=until, timeout=timeout, on_reply=show)

    try:
        replies = asyncio.run(main())
    except TimeoutError:
        print(
            f"error: no {'final ' if wait else ''}reply within {timeout:g}s (is `livermore serve` running?)",
            file=sys.stderr,
        )
        raise typer.Exit(1) from None
    if replies[-1].status == "error":
        raise typer.Exit(1)


def _parse_payload(payload: str | None) -> dict[str, Any] | None:
    if payload is None:
        return None
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise typer.BadParameter(f"not JSON: {e}", param_hint="--payload") from None
    if not isinstance(doc, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--payload")
    return doc
