"""ControlChannel: the Redis pub/sub listener of the original's control protocol."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

from redis.exceptions import RedisError

from livermore.connection import RedisClient
from livermore.control.handlers import Accepted, CommandHandlers
from livermore.control.protocol import COMMAND_TTL_MS, BadCommand, Command, Response, ResponseStatus, parse_command
from livermore.errors import CommandError
from livermore.keys import command_queue_key, commands_channel, responses_channel
from livermore.models import now_ms
from livermore.warmup.outage import Backoff

log = logging.getLogger(__name__)

_PRIORITY_WEIGHT = 10**13  # > any Unix ms: priority first, then arrival


class ControlChannel:
    """Answers `ack` at once, queues the command by priority, runs queued commands one at a time.

    `start` answers `started` as soon as the warmup is under way (as the original does; its
    progress and outcome are in the stats), so the queue keeps moving: `status`, `pause`, `stop`
    are answered during a warmup. A handler may still answer `Accepted` (a reply when a background
    task ends). Nothing a publisher sends stops the listener: every bad message gets an `error`
    reply naming the problem.
    """

    def __init__(
        self,
        redis: RedisClient,
        handlers: CommandHandlers,
        sub: str,
        *,
        clock: Callable[[], int] = now_ms,
        ttl_ms: int = COMMAND_TTL_MS,
    ):
        self.redis = redis
        self.handlers = handlers
        self.clock = clock
        self.ttl_ms = ttl_ms
        self.commands = commands_channel(sub)
        self.responses = responses_channel(sub)
        self.queue = command_queue_key(sub)
        self.ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._closing = False
        self._background: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Listen until cancelled; commands left queued by a previous process run first.

        A Redis that goes away (a restart, a failover) is waited for with jittered backoff and
        subscribed to again; `ready` is clear meanwhile. Commands published while it was away are
        lost (pub/sub keeps nothing), those already queued run once it is back."""
        self._closing = False
        worker = asyncio.create_task(self._work())
        backoff = Backoff()
        try:
            while True:
                try:
                    await self._listen(backoff)
                except (RedisError, OSError) as e:
                    self.ready.clear()
                    log.warning("control channel lost Redis (%s); subscribing again", e)
                    await backoff.sleep()
        finally:
            self.ready.clear()
            self._closing = True  # a cancel that lands inside a Redis call can be swallowed by redis-py
            self._wake.set()
            for task in (worker, *self._background):
                task.cancel()
            await asyncio.gather(worker, *self._background, return_exceptions=True)

    async def _listen(self, backoff: Backoff) -> None:
        """Subscribe, let the worker look at the queue, and receive until the connection fails."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.commands)
            backoff.reset()
            self._wake.set()
            self.ready.set()
            log.info("control channel listening on %s", self.commands)
            async for message in pubsub.listen():
                if message["type"] == "message":
                    await _logged(self._receive(message["data"]), "receiving a command")
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _receive(self, raw: bytes) -> None:
        try:
            cmd = parse_command(raw)
        except BadCommand as e:
            await self.reply(e.correlation_id, "error", str(e))
            return
        try:
            if self._expired(cmd):
                raise CommandError("Command expired")
            self.handlers.validate(cmd.type, cmd.payload)
        except CommandError as e:
            await self.reply(cmd.correlation_id, "error", str(e))
            return
        await self.reply(cmd.correlation_id, "ack")
        await self.enqueue(cmd, self.clock())

    async def enqueue(self, cmd: Command, received_ms: int) -> None:
        """ZADD with score priority * 1e13 + arrival ms: lower priority first, first come first within one."""
        await self.redis.zadd(self.queue, {cmd.to_json(): cmd.priority * _PRIORITY_WEIGHT + received_ms})
        self._wake.set()

    async def _work(self) -> None:
        """Run queued commands one at a time; a queue Redis cannot serve is tried again with backoff."""
        backoff = Backoff()
        while True:
            await self._wake.wait()
            if self._closing:
                return
            self._wake.clear()
            try:
                while not self._closing and (popped := await self.redis.zpopmin(self.queue)):
                    member = cast(bytes, popped[0][0])  # ZPOPMIN: [(member, score)]
                    await _logged(self._execute(Command.model_validate_json(member)), "running a command")
            except (RedisError, OSError) as e:
                log.warning("control channel: the command queue is unreachable (%s); trying again", e)
                await backoff.sleep()
                self._wake.set()
            else:
                backoff.reset()

    async def _execute(self, cmd: Command) -> None:
        if self._expired(cmd):
            await self.reply(cmd.correlation_id, "error", "Command expired")
            return
        try:
            result = await self.handlers.dispatch(cmd.type, cmd.payload)
        except CommandError as e:
            await self.reply(cmd.correlation_id, "error", str(e), e.data)
            return
        except Exception as e:
            log.exception("command %s %s failed", cmd.type, cmd.correlation_id)
            await self.reply(cmd.correlation_id, "error", f"{type(e).__name__}: {e}")
            return
        if isinstance(result, Accepted):
            task = asyncio.create_task(self._follow(cmd, result))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        else:
            await self.reply(cmd.correlation_id, "success", data=result)

    async def _follow(self, cmd: Command, accepted: Accepted) -> None:
        """Reply when a background command ends."""
        try:
            data = await accepted.done
        except CommandError as e:
            await self.reply(cmd.correlation_id, "error", str(e), e.data)
        except Exception as e:
            await self.reply(cmd.correlation_id, "error", f"{type(e).__name__}: {e}")
        else:
            await self.reply(cmd.correlation_id, "success", data=data)

    def _expired(self, cmd: Command) -> bool:
        return self.clock() - cmd.timestamp > self.ttl_ms

    async def reply(
        self, correlation_id: str | None, status: ResponseStatus, message: str | None = None, data: Any = None
    ) -> None:
        response = Response(
            correlation_id=correlation_id, status=status, message=message, data=data, timestamp=self.clock()
        )
        await self.redis.publish(self.responses, response.to_json())


async def _logged(step: Awaitable[None], what: str) -> None:
    """A Redis hiccup while handling one command is logged; the listener and the worker go on."""
    try:
        await step
    except Exception:
        log.exception("control channel: error while %s", what)
