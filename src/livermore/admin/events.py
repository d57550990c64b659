"""EventHub: an exchange's warmup stats events from ONE Redis subscription, fanned out in-process.

A subscription per event stream cost a Redis client per open browser tab (200 streams, 68 clients).
Here the first stream starts the one subscription, each stream reads its own bounded backlog, and
the last one leaving stops it; a cap refuses streams beyond it instead of queueing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator

from livermore.warmup.outage import Backoff
from livermore.warmup.store import WarmupStore
from livermore.warmup.tasks import cancel_until_done, unless_cancelled

log = logging.getLogger(__name__)

BACKLOG = 32  # events a stream keeps for a reader that falls behind; older ones are dropped
POLL_S = 1.0  # the subscription and the streams wake this often without news (to notice a close)
JOIN_WAIT_S = 2.0  # a new stream waits this long for the subscription (Redis away: refused)
RESUBSCRIBE_FIRST_S = 0.1  # after a lost subscription; doubles up to RESUBSCRIBE_MAX_S, jittered (Backoff)
RESUBSCRIBE_MAX_S = 2.0


class StreamsFull(Exception):
    """As many event streams are open as the server allows: the next is refused, not queued."""


class Stream:
    """One open stream's events: a bounded backlog, so a reader that cannot keep up loses the
    oldest events (a newer stats document supersedes them) instead of growing the server's memory."""

    def __init__(self, backlog: int = BACKLOG):
        self._events: deque[bytes] = deque(maxlen=backlog)
        self._news = asyncio.Event()

    def offer(self, event: bytes) -> None:
        self._events.append(event)
        self._news.set()

    def lead_with(self, event: bytes) -> None:
        """`event` comes before anything offered so far (the current stats, read after joining),
        and supersedes the oldest when the backlog is full."""
        if len(self._events) == self._events.maxlen:
            self._events.popleft()
        self._events.appendleft(event)
        self._news.set()

    async def next(self, within_s: float) -> bytes | None:
        """The oldest event kept, or None when none came within `within_s`."""
        if not self._events:
            self._news.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within_s):
                    await self._news.wait()
        return self._events.popleft() if self._events else None


class EventHub:
    """The stats events of one exchange from one subscription, held while any stream is open. It
    survives Redis restarts: redis-py resubscribes on its own for a few seconds, then this does,
    with jittered backoff; either way every open stream then gets the current stats again, as
    updates published meanwhile were lost."""

    def __init__(self, store: WarmupStore, exchange_id: int, *, max_streams: int):
        self.store = store
        self.exchange_id = exchange_id
        self.max_streams = max_streams
        self._open = 0  # streams open or joining: the cap counts both
        self._streams: set[Stream] = set()
        self._subscribed = asyncio.Event()  # set while the subscription listens
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def stream(self) -> AsyncIterator[Stream]:
        """A new stream, the current stats first, then every update. Raises StreamsFull beyond the
        cap, and TimeoutError or a Redis error when Redis is away (there is nothing to stream)."""
        if self._open >= self.max_streams:
            raise StreamsFull(f"{self._open} event streams are open, as many as this server allows")
        self._open += 1
        if self._task is None:
            self._task = asyncio.create_task(self._listen())
        stream = Stream()
        try:
            async with asyncio.timeout(JOIN_WAIT_S):
                await self._subscribed.wait()
                self._streams.add(stream)  # before reading: an update from here on is not missed
                if current := await self.store.current_stats(self.exchange_id):
                    stream.lead_with(current)
            yield stream
        finally:
            self._streams.discard(stream)
            self._open -= 1
            if not self._open:
                await self._stop()

    async def _listen(self) -> None:
        """Hold the subscription; after losing it, resubscribe and send every stream the current stats."""
        backoff, again = Backoff(RESUBSCRIBE_FIRST_S, RESUBSCRIBE_MAX_S), False
        while True:
            try:
                async for event in self.store.stats_events(self.exchange_id, POLL_S, current=again):
                    for stream in self._streams if event else ():  # b"": subscribed, or no news
                        stream.offer(event)
                    self._subscribed.set()  # after the resubscribed stats: a stream joining now reads its own
                    backoff.reset()
            except Exception as e:  # Redis went away: the streams stay open while this resubscribes
                unless_cancelled()
                said = log.warning if self._subscribed.is_set() else log.debug  # once an outage, not per try
                said("lost the warmup events subscription (resubscribing): %s", e)
            self._subscribed.clear()
            again = True
            await backoff.sleep()

    async def _stop(self) -> None:
        task, self._task = self._task, None
        self._subscribed.clear()
        if task is not None:
            await cancel_until_done([task])
