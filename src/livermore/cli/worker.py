"""`livermore worker`: one more process fetching the entries of the exchange's running warmup."""

from __future__ import annotations

import asyncio

from livermore.cli.options import (
    DEFAULT_EXCHANGE,
    BaseUrl,
    Egress,
    Exchange,
    ExchangeId,
    RedisUrl,
    SourceAddress,
    announce,
    egress_settings,
    exchange_id_for,
    log_as_a_service,
    run_until_signalled,
)
from livermore.service import work


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
    log_as_a_service()
    exchange_id_for(exchange, exchange_id)  # an unknown exchange fails here, before anything runs
    settings = egress_settings(redis_url, egress, source_address)

    async def main(stop: asyncio.Event) -> None:
        done = await work(settings, exchange, stop, announce, base_url=base_url, exchange_id=exchange_id)
        announce(f"worker {done.name}: stopped after {done.passes} passes")

    run_until_signalled(main)
