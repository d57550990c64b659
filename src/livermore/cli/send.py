"""`livermore send`: one control command on the channel, its replies, and a `start` followed to its end."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
import typer

from livermore.cli.options import (
    DEFAULT_EXCHANGE,
    EXIT_ERROR,
    EXIT_SIGINT,
    OUTCOME_EXIT,
    Exchange,
    ExchangeId,
    RedisUrl,
    Sub,
    console,
    err,
    exchange_id_for,
    fail,
    run_async,
    settings_for,
)
from livermore.cli.progress import ProgressView
from livermore.control.client import FINAL, ControlClient
from livermore.control.protocol import DEFAULT_PRIORITY, Response
from livermore.models import now_ms
from livermore.service import redis_client
from livermore.warmup import WarmupStats
from livermore.warmup.store import WarmupStore

COMMAND_TYPES = (
    "start, stop, pause, resume, status, cancel, reload-settings, switch-mode, force-backfill, clear-cache, "
    "add-symbol, remove-symbol, bulk-add-symbols"
)
FOLLOWED = frozenset({"start"})  # commands whose work goes on after their reply: followed by the stats
ERROR_GRACE_S = 2.0  # after an error reply, how long the run's last stats may still take to arrive
FOREVER_S = 10.0**9
CLOCK_SKEW_MS = 1000  # how far the service's clock may be behind ours, for telling runs apart


def send(
    command_type: Annotated[str, typer.Argument(metavar="TYPE", help=COMMAND_TYPES)],
    payload: Annotated[str | None, typer.Option(help='JSON object, e.g. \'{"symbol": "BTCUSDT"}\'')] = None,
    wait: Annotated[
        bool, typer.Option(help="wait for the final reply (and follow a `start` to its end); --no-wait: the ack only")
    ] = True,
    timeout: Annotated[float, typer.Option(help="seconds to wait for each reply (a followed run has no limit)")] = 60.0,
    priority: Annotated[int, typer.Option(min=1, max=100, help="1..100, lower runs first")] = DEFAULT_PRIORITY,
    exchange: Exchange = DEFAULT_EXCHANGE,
    exchange_id: ExchangeId = None,
    redis_url: RedisUrl = None,
    sub: Sub = None,
) -> None:
    """Publish one command on the control channel and print its replies; `start` prints progress lines
    until the warmup ends and exits with its outcome's code (0 when it ends complete)."""
    body = _parse_payload(payload)
    settings = settings_for(redis_url, command_sub=sub)
    sender = _Sender(command_type, body, priority, timeout, exchange_id_for(exchange, exchange_id))
    try:
        code = run_async(lambda: sender.run(settings.redis_url, settings.command_sub, wait))
    except typer.Exit as e:
        if e.exit_code == EXIT_SIGINT and command_type in FOLLOWED:
            err.print("the warmup goes on in the service: `livermore status` shows it, `send cancel` ends it")
        raise
    raise typer.Exit(code)


class _Sender:
    def __init__(self, command_type: str, body: dict[str, Any] | None, priority: int, timeout: float, eid: int):
        self.command_type, self.body, self.priority = command_type, body, priority
        self.timeout, self.exchange_id = timeout, eid

    async def run(self, redis_url: str, sub: str, wait: bool) -> int:
        async with redis_client(redis_url) as redis, ControlClient(redis, sub) as client:
            store = WarmupStore(redis)
            follow = wait and self.command_type in FOLLOWED
            before = await store.load_stats(self.exchange_id) if follow else None
            since = now_ms() - CLOCK_SKEW_MS
            cid = await client.send(self.command_type, self.body, priority=self.priority)
            first = await self._replies(client, cid, frozenset({"ack", *FINAL}), sub)
            if first.status == "error" or not wait:
                return EXIT_ERROR if first.status == "error" else 0
            if not follow:
                return EXIT_ERROR if (await self._replies(client, cid, FINAL, sub)).status == "error" else 0
            return await self._follow(client, cid, store, before, since)

    async def _replies(self, client: ControlClient, cid: str, until: frozenset[str], sub: str) -> Response:
        """The newest reply once one in `until` came, or one error line if none comes in time."""
        try:
            return (await client.wait_for(cid, until=until, timeout=self.timeout, on_reply=_show))[-1]
        except TimeoutError:
            if any(r.correlation_id == cid for r in client.received):  # acknowledged: it may still be running
                raise fail(
                    f"acknowledged, but no final reply within {self.timeout:g}s; the command may still be running "
                    "(a longer --timeout waits more; `livermore status` shows a warmup)"
                ) from None
            raise fail(f"no reply within {self.timeout:g}s: is `livermore serve` running on channel {sub!r}?") from None

    async def _follow(
        self, client: ControlClient, cid: str, store: WarmupStore, before: WarmupStats | None, since: int
    ) -> int:
        """Until the run ends: print its progress; exit code of its outcome. A refused start exits 1.
        A reply naming another exchange id than --exchange's (the served one) moves the watch there."""
        replies: asyncio.Future[list[Response]] = asyncio.ensure_future(
            client.wait_for(cid, until=FINAL, timeout=FOREVER_S, on_reply=_show)
        )
        ended = asyncio.create_task(self._watch(store, self.exchange_id, before, since))
        try:
            while not ended.done():
                either: set[asyncio.Future[Any]] = {replies, ended}
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                if ended.done() or not replies.done():
                    break
                last = replies.result()[-1]
                if last.status == "error":
                    return await _grace(ended)
                served = _exchange_id_in(last)
                if served is not None and served != self.exchange_id:
                    ended.cancel()
                    self.exchange_id = served
                    ended = asyncio.create_task(self._watch(store, served, None, since))
                replies = asyncio.get_running_loop().create_future()  # the final reply came: only the run now
            stats = await ended
        finally:
            for task in (replies, ended):
                task.cancel()
            await asyncio.gather(replies, ended, return_exceptions=True)
        return OUTCOME_EXIT[stats.outcome or "interrupted"]

    async def _watch(self, store: WarmupStore, eid: int, before: WarmupStats | None, since: int) -> WarmupStats:
        """The stats of the run this start began (or of the one already running), printed as they
        change, until it ends. The previous run's final stats are not this run's."""
        with ProgressView(console, f"start (exchange {eid})") as view:
            async for raw in store.stats_events(eid):
                if not raw:
                    view.tick()
                    continue
                stats = WarmupStats.model_validate_json(raw)
                if not _this_run(stats, before, since):
                    continue
                view.update(stats)
                if not stats.running:
                    return stats
        raise AssertionError("stats_events ends only when its consumer stops")  # pragma: no cover


def _this_run(stats: WarmupStats, before: WarmupStats | None, since: int) -> bool:
    """A running run is the one to follow; an ended one only if it is not the run seen before the
    start was sent (or, when nothing was seen for this exchange, if it started after the send)."""
    if stats.running:
        return True
    if before is not None:
        return before.running or stats.started_at != before.started_at
    return stats.started_at >= since


async def _grace(ended: asyncio.Task[WarmupStats]) -> int:
    """After an error reply: the run's own end, if its last stats arrive soon (a run that ended
    badly); else 1 (a refused start)."""
    try:
        stats = await asyncio.wait_for(asyncio.shield(ended), ERROR_GRACE_S)
    except TimeoutError:
        return EXIT_ERROR
    return OUTCOME_EXIT[stats.outcome or "interrupted"]


def _exchange_id_in(reply: Response) -> int | None:
    data = reply.data if isinstance(reply.data, dict) else {}
    value = data.get("exchangeId")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _show(reply: Response) -> None:
    """A reply as indented JSON (a `status` reply is tens of KB: one line of it is unreadable)."""
    doc = orjson.loads(reply.to_json())
    console.print(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode(), soft_wrap=True, highlight=False, markup=False)


def _parse_payload(payload: str | None) -> dict[str, Any] | None:
    if payload is None:
        return None
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise fail(f"--payload is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise fail(f"--payload must be a JSON object, not {payload!r}")
    return doc
