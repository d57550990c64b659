"""The scanner on a 3-master Redis Cluster vs one redis-server: 10,002 pairs (1,667 symbols x 6
timeframes), the same candles and ledger entries on both, the same verdicts.

Both are written by the cache itself, so each keeps the ledger its way (one hash on the server; on
the cluster a hash per pair, in its candle key's slot). The server answers one script call per
1,000 keys; the cluster one call per pair, each node's calls sent in one batch, the three nodes at
once. Both clusters and servers are private, started here, on loopback.
"""

from __future__ import annotations

from typing import Any

from livermore.cache import CandleCache, Coverage
from livermore.config import Settings
from livermore.connection import RedisClient
from livermore.embedded import RedisClusterServers, RedisServer
from livermore.models import SCAN_TIMEFRAME_ORDER, Candle, Timeframe
from livermore.service import redis_client, scanner_for
from livermore.warmup import CandleStatusResult
from scan import NOW, SYMBOLS, best_of


def page(i: int, symbol: str, tf: Timeframe) -> tuple[list[Candle], list[Coverage]]:
    """Six kinds of pair, in turn: whole and answered for; short; stale; holed; quiet (its hole
    confirmed empty); none at all."""
    top = tf.floor(NOW)
    kind = i % 6
    newest = top - 3 * tf.ms if kind == 2 else top
    count = 30 if kind == 1 else 0 if kind == 5 else 100
    times = [newest - k * tf.ms for k in range(count) if not (kind in (3, 4) and k == 7)]
    candles = [Candle(t, 1.5, 2.0, 1.0, 1.75, 10.0, symbol, tf) for t in times]
    if kind not in (0, 4):
        return candles, []
    empty = (top - 7 * tf.ms,) if kind == 4 else ()
    return candles, [Coverage(symbol, tf, top - 99 * tf.ms, top, NOW, empty)]


async def populate(cache: CandleCache) -> None:
    """Every pair's page, 100 pairs per call."""
    pages = [page(i, s, tf) for i, s in enumerate(SYMBOLS) for tf in SCAN_TIMEFRAME_ORDER]
    for n in range(0, len(pages), 100):
        chunk = pages[n : n + 100]
        candles = [c for page_candles, _ in chunk for c in page_candles]
        await cache.add_candles(1, candles, [a for _, answers in chunk for a in answers])


async def scan_on(url: str) -> tuple[float, list[CandleStatusResult]]:
    redis: RedisClient
    async with redis_client(url) as redis:
        scanner = scanner_for(redis, Settings(), clock=lambda: NOW)
        await populate(scanner.cache)
        await scanner.scan(1, SYMBOLS[:10])  # warm the connections (all nodes)
        return await best_of(3, lambda: scanner.scan(1, SYMBOLS))


async def cluster_scan() -> dict[str, Any]:
    """scale.json's `cluster_scan` section."""
    with RedisServer() as server, RedisClusterServers() as cluster:
        standalone_s, standalone = await scan_on(server.url)
        cluster_s, clustered = await scan_on(cluster.url)
    figures = {
        "pairs": len(standalone),
        "same_verdicts": clustered == standalone,
        "cluster_s": round(cluster_s, 4),
        "standalone_s": round(standalone_s, 4),
    }
    print(
        f"cluster scan: {figures['pairs']} pairs, same verdicts: {figures['same_verdicts']}; "
        f"3-master cluster {figures['cluster_s']:.3f} s, one server {figures['standalone_s']:.3f} s"
    )
    return figures
