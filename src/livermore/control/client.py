"""ControlClient: publish commands on the control channel and collect their replies."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

from redis.asyncio.client import PubSub

from livermore.connection import RedisClient
from livermore.control.protocol import DEFAULT_PRIORITY, Command, Response
from livermore.keys import commands_channel, responses_channel
from livermore.models import now_ms

FINAL = frozenset({"success", "error"})


class ControlClient:
    """`async with ControlClient(redis, sub) as c`: subscribed to the replies before anything is
    published, so an `ack` sent at once is never missed. Every reply read is kept in `received`."""

    def __init__(self, redis: RedisClient, sub: str, clock: Callable[[], int] = now_ms):
        self.redis = redis
        self.commands = commands_channel(sub)
        self.responses = responses_channel(sub)
        self.clock = clock
        self.received: list[Response] = []
        self._pubsub: PubSub | None = None

    async def __aenter__(self) -> ControlClient:
        self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(self.responses)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pubsub is not None:
            await self._pubsub.aclose()

    async def send(
        self,
        command_type: str,
        payload: dict[str, Any] | None = None,
        *,
        priority: int = DEFAULT_PRIORITY,
        timestamp: int | None = None,
    ) -> str:
        """Publish a command; returns its correlation id."""
        cmd = Command(
            correlation_id=str(uuid.uuid4()),
            type=command_type,
            payload=payload,
            timestamp=self.clock() if timestamp is None else timestamp,
            priority=priority,
        )
        await self.publish_raw(cmd.to_json())
        return cmd.correlation_id

    async def publish_raw(self, raw: bytes | str) -> None:
        await self.redis.publish(self.commands, raw)

    async def wait_for(
        self,
        correlation_id: str | None,
        *,
        until: frozenset[str] = FINAL,
        timeout: float = 30.0,
        on_reply: Callable[[Response], None] | None = None,
    ) -> list[Response]:
        """Replies to `correlation_id` (in order) up to the first whose status is in `until`.
        Raises TimeoutError if it does not come within `timeout` seconds."""
        mine = [r for r in self.received if r.correlation_id == correlation_id]
        async with asyncio.timeout(timeout):
            while not any(r.status in until for r in mine):
                reply = await self._next()
                if reply.correlation_id == correlation_id:
                    mine.append(reply)
                    if on_reply is not None:
                        on_reply(reply)
        return mine

    async def request(
        self,
        command_type: str,
        payload: dict[str, Any] | None = None,
        *,
        priority: int = DEFAULT_PRIORITY,
        timeout: float = 30.0,
    ) -> Response:
        """Send and return the final reply."""
        cid = await self.send(command_type, payload, priority=priority)
        return (await self.wait_for(cid, timeout=timeout))[-1]

    async def _next(self) -> Response:
        assert self._pubsub is not None, "use ControlClient in `async with`"
        while True:
            message = await self._pubsub.get_message(timeout=1.0)
            if message is not None and message["type"] == "message":
                reply = Response.model_validate_json(message["data"])
                self.received.append(reply)
                return reply
