"""Every Redis name the service reads or writes, in one place (as arq keeps its in `constants.py`).

The first group is the original system's, byte for byte: its other services and admin UI read and
write them, so a changed string is a broken product (each is pinned by a test to its literal). The
second group is ours; the original never reads them.
"""

from __future__ import annotations

# --- the original's names -------------------------------------------------------------------------


def exchange_candle_key(exchange_id: int, symbol: str, timeframe: str) -> str:
    """Sorted set of candles: score = open time (ms), member = the candle's JSON."""
    return f"candles:{exchange_id}:{symbol}:{timeframe}"


def warmup_schedule_key(exchange_id: int) -> str:
    """JSON schedule of the last warmup, no TTL."""
    return f"exchange:{exchange_id}:warm-up-schedule:symbols"


def warmup_stats_key(exchange_id: int) -> str:
    """JSON progress stats of the current or last warmup, no TTL."""
    return f"exchange:{exchange_id}:warm-up-schedule:stats"


def commands_channel(sub: str) -> str:
    """Pub/sub channel the control commands arrive on."""
    return f"livermore:commands:{sub}"


def responses_channel(sub: str) -> str:
    """Pub/sub channel the `ack` / `success` / `error` replies go out on."""
    return f"livermore:responses:{sub}"


def command_queue_key(sub: str) -> str:
    """Sorted set of accepted commands waiting their turn; score = priority, then arrival."""
    return f"livermore:command-queue:{sub}"


def ticker_key(exchange_id: int, symbol: str) -> str:
    """The original's live ticker of a symbol (JSON, 60 s TTL); we only ever delete it."""
    return f"ticker:{exchange_id}:{symbol}"


def indicator_key(exchange_id: int, symbol: str, timeframe: str) -> str:
    """The original's indicator keys: `indicator:<id>:<symbol>:<timeframe>`, possibly followed by
    further `:`-separated segments of its own; we only ever delete them (remove-symbol, clear-cache)."""
    return f"indicator:{exchange_id}:{symbol}:{timeframe}"


def instance_status_key(exchange_id: int) -> str:
    """JSON of the instance serving the exchange (state, heartbeat), SET NX EX 45 and refreshed every
    15 s; the original's admin shows the exchange online only while it exists."""
    return f"exchange:{exchange_id}:status"


# --- ours -----------------------------------------------------------------------------------------


def monitored_symbols_key(exchange_id: int) -> str:
    """Set of the symbols warmed for an exchange; every serving process shares it."""
    return f"livermore:symbols:{exchange_id}"


def instance_lease_key(exchange_id: int) -> str:
    """Lease beside the original's instance status key, naming the serving process (host, pid): the
    status document has exactly the original's fields, and a restart after `kill -9` must tell a dead
    instance of this host from a live one without waiting out the document's 45 s."""
    return f"livermore:instance:{exchange_id}"


def warmup_events_channel(exchange_id: int) -> str:
    """Pub/sub channel on which every stats update is also published, for live viewers."""
    return f"exchange:{exchange_id}:warm-up-schedule:events"


def warmup_lock_key(exchange_id: int) -> str:
    """Lease lock: one warmup (or cache clear) per exchange at a time, across processes."""
    return f"exchange:{exchange_id}:warm-up-schedule:lock"


def warmup_queue_key(exchange_id: int) -> str:
    """Redis Stream of schedule entries, read by the consumer group `WARMUP_QUEUE_GROUP`."""
    return f"exchange:{exchange_id}:warm-up-schedule:queue"


WARMUP_QUEUE_GROUP = "warmup"


def warmup_workers_key(exchange_id: int) -> str:
    """Hash: `livermore worker` name -> JSON of its share of the current run (WorkerTally), which
    the scheduling process adds into the run's stats."""
    return f"exchange:{exchange_id}:warm-up-schedule:workers"


def candle_ledger_key(exchange_id: int) -> str:
    """Hash: candle key -> JSON of what the exchange has confirmed about that key (the coverage
    ledger), written by the same script call as each page of candles: `answeredTo` (the newest
    open time accounted for: held, or confirmed empty), `fetchedAt` (when it was last asked, ms),
    `empty` (open times inside the held span the exchange confirmed had no trade; left out when
    none) and `historyStart` (the pair's first candle, for a pair listed recently; left out when
    unknown). The candle sorted sets themselves hold only real candles. On a Redis Cluster each
    entry lives in a hash of its own instead (`candle_ledger_cluster_key`)."""
    return f"exchange:{exchange_id}:candle-ledger"


def candle_ledger_cluster_key(exchange_id: int, candle_key: str) -> str:
    """On a Redis Cluster: the hash holding `candle_key`'s ledger entry alone (same field, same JSON
    as in `candle_ledger_key`), in the candle key's slot, so one script call still writes a page
    and its entry atomically. The hash tag is the candle key's whole name, and a key without a tag
    hashes its whole name: both names land in one slot without tagging the original's candle keys.
    (A symbol with braces would break that; no exchange lists one, and Redis then refuses the
    script call for crossing slots rather than writing anything.)"""
    return f"{candle_ledger_key(exchange_id)}:{{{candle_key}}}"


# The rate budget of one egress IP, shared by every process sending from it. The braces are a Redis
# Cluster hash tag: a grant script touches a window key and the pause key of one (exchange, egress),
# and on a cluster both must live in one slot.


def budget_window_key(exchange_id: int, egress: str, window: int) -> str:
    """Weight granted in one fixed window (Binance REQUEST_WEIGHT; `window` = the exchange's epoch s // length),
    by every process on the egress; expires soon after the window ends."""
    return f"livermore:budget:{{{exchange_id}:{egress}}}:w:{window}"


def budget_bucket_key(exchange_id: int, egress: str) -> str:
    """Hash {tokens, at (ms)}: the token bucket (Coinbase requests per second) of every process on
    the egress; expires once it would be full again."""
    return f"livermore:budget:{{{exchange_id}:{egress}}}:bucket"


def budget_terms_key(exchange_id: int, egress: str, host: str) -> str:
    """How the exchange counts the egress's weight, as `host`'s first process on the egress
    measured it (JSON: limit, window_s, and offset_s, the exchange's clock less the host's): every
    process of the host then turns its windows at one instant (each measuring its own would put up
    to a round trip between them), and a process starting counts even its first request
    (exchangeInfo) in the shared window; expires after an hour."""
    return f"livermore:budget:{{{exchange_id}:{egress}}}:terms:{host}"


def budget_pause_key(exchange_id: int, egress: str) -> str:
    """Until when (epoch ms) nothing may be sent from the egress: a 429's Retry-After or a 418 ban,
    written by the process that drew it and checked by every grant; expires then."""
    return f"livermore:budget:{{{exchange_id}:{egress}}}:pause"
