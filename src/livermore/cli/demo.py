"""`livermore demo`: a private persistent Redis and an in-process Binance simulator, warmed twice.

The first run fills 50 symbols x 6 timeframes (or tops up what an earlier demo left), the second
shows the warm restart: zero REST calls, but for one tail request per pair whose newest candle was
fetched while open and has closed since (a 1m candle, when a minute turns between the two runs).
The Redis data lives in `.livermore/redis/` (AOF on), so the next `make demo` starts warm.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console

from livermore.cli.progress import warm
from livermore.config import Settings
from livermore.embedded import RedisServer
from livermore.models import SCAN_TIMEFRAME_ORDER
from livermore.service import adapter_for, redis_client, warmup_for
from livermore.simulator import SimulatorConfig, serve_simulator
from livermore.warmup import WarmupStats

DEMO_DIR = Path(".livermore/redis")


async def run_demo(
    console: Console, directory: Path = DEMO_DIR, *, fresh: bool = False, symbols: int = 50
) -> list[tuple[str, WarmupStats]]:
    """Warm twice; returns both reports, titled."""
    if fresh and directory.exists():
        shutil.rmtree(directory)
    config = SimulatorConfig(exchange="binance", symbols=symbols, latency_ms=(20, 80))
    with RedisServer(directory, appendonly=True) as server:
        console.print(f"redis-server on {server.url} (data in {directory}/)")
        async with serve_simulator(config) as sim, redis_client(server.url) as redis:
            console.print(f"exchange simulator (Binance wire format, 6000 weight/min) on {sim.base_url}")
            settings = Settings(redis_url=server.url)
            adapter = adapter_for(settings, "binance", base_url=sim.base_url)
            try:
                names = [s.symbol for s in await adapter.list_symbols(quote="USDT")][:symbols]
                tfs = list(SCAN_TIMEFRAME_ORDER)
                console.print(f"warming {len(names)} symbols x {len(tfs)} timeframes")
                service = warmup_for(redis, adapter, settings)
                first = await warm(service, adapter.exchange_id, names, tfs, "first start", console)
                second = await warm(service, adapter.exchange_id, names, tfs, "warm restart", console)
            finally:
                await adapter.close()
    return [("first start", first), ("warm restart", second)]
