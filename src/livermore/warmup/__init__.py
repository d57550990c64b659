"""Scan -> schedule -> execute. Talks to Redis through `cache` (candles) and its own `store`
(schedule, stats), and to exchanges through `exchanges`; knows nothing of the control channel,
the admin app or Settings.

    scan       CandleStatusScanner: which pairs are complete, fresh, final and hole-free
    schedule   WarmupScheduleBuilder: the pairs to fetch, each with where to start (pure)
    store      the schedule and stats documents, the stats events channel
    stats      WarmupStats: the one model of a run, live and final
    fetch      PairFetcher: one pair from the exchange into the cache, with its coverage
    drain      Drain: the one executor of schedule entries
    queue      where the drain takes entries from (a Redis Stream, or a list)
    execute    WarmupService: plan, run, backfill, clear
    run        WarmupRun: one warmup from its scan to its end (drained here and by workers)
    ending     StopRequest and how a run that stopped early says why
    worker     QueueWorker: `livermore worker`, draining whatever run is under way
    outage     RedisOutage: a run waits for a Redis that went away
    runner     WarmupRunner: the exchange's one background job (warmup or backfill) in this process
    lock       LeaseLock: one run per exchange across processes
    symbols    MonitoredSymbols, SymbolCatalog
"""

from livermore.warmup.execute import WarmupService
from livermore.warmup.scan import CandleStatusResult, CandleStatusScanner
from livermore.warmup.schedule import WarmupSchedule, WarmupScheduleBuilder, WarmupScheduleEntry
from livermore.warmup.stats import WarmupStats

__all__ = [
    "CandleStatusResult",
    "CandleStatusScanner",
    "WarmupSchedule",
    "WarmupScheduleBuilder",
    "WarmupScheduleEntry",
    "WarmupService",
    "WarmupStats",
]
