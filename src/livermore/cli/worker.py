"""`livermore worker`: one more process fetching the entries of the exchange's running warmup."""

from __future__ import annotations

import asyncio
import logging
import signal

from livermore.cli.options import (
    DEFAULT_EXCHANGE,
    BaseUrl,
    Egress,
    Exchange,
    ExchangeId,
    RedisUrl,
    SourceAddress,
    egress_settings,
    exchange_id_for,
    run_async,
)
from livermore.service import work


def _announce(line: str) -> None:
    print(line, flush=True)


def worker(
    exchange: Exchange = DEFAULT_EXCHANGE,
    exchange_id: ExchangeId = None,
    redis_url: RedisUrl = None,
    base_url: BaseUrl = None,
    egress: Egress = None,
    source_address: SourceAddress = None,
) -> None:
    """Fetch the entries of whatever warmup of the exchange runs (started by `serve` or `warmup`,
    possibly with --no-drain), beside the others, until SIGTERM/SIGINT; entries in flight then are
    taken over by the others after LIVERMORE_RECLAIM_IDLE_S."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    exchange_id_for(exchange, exchange_id)  # an unknown exchange fails here, before anything runs
    settings = egress_settings(redis_url, egress, source_address)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        done = await work(settings, exchange, stop, _announce, base_url=base_url, exchange_id=exchange_id)
        print(f"worker {done.name}: stopped after {done.passes} passes", flush=True)

    run_async(main)
