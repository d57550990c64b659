"""Hostile HTTP is cheap to refuse: bodies, tokens and hosts judged before a body is read; event
streams from one Redis subscription, capped, surviving a Redis restart; JSON 503 while Redis is away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import orjson
import pytest
from redis.asyncio import Redis
from starlette.types import ASGIApp, Message

from livermore.admin.events import Stream
from livermore.embedded import RedisServer
from livermore.keys import warmup_events_channel
from livermore.warmup import WarmupStats
from livermore.warmup.store import WarmupStore
from tests.admin.test_app import AUTH, api, serving, sse_events
from tests.support.control_world import TOKEN, World, served_world

LIMIT = 1_048_576  # Settings' default admin_max_body_bytes
CHUNK = 64 * 1024
HUGE = 100 * 1024 * 1024


@pytest.fixture
async def http(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=world.service.app), base_url="http://admin") as c:
        yield c


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    detail: str
    pulled: int  # body bytes the app took from the connection


async def raw_post(app: ASGIApp, path: str, headers: dict[str, str], size: int) -> Answer:
    """A POST straight into the ASGI app, its `size`-byte body made lazily, chunk by chunk, only as
    the app asks for it: `pulled` is what the app took, whatever the client meant to send."""
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        if pulled >= size:
            return {"type": "http.disconnect"}
        chunk = min(CHUNK, size - pulled)
        pulled += chunk
        return {"type": "http.request", "body": b"x" * chunk, "more_body": pulled < size}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "admin", **headers}.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("admin", 80),
    }
    await app(scope, receive, send)
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    headers_out = {k.decode(): v.decode() for k, v in start["headers"]}
    return Answer(start["status"], headers_out, orjson.loads(body)["detail"], pulled)


async def test_an_unauthenticated_huge_post_is_refused_before_its_body_is_read(world: World) -> None:
    for headers in ({"content-length": str(HUGE)}, {"transfer-encoding": "chunked"}, {"authorization": "Bearer no"}):
        answer = await raw_post(world.service.app, api(world, "/symbols"), headers, HUGE)
        assert (answer.status, answer.detail, answer.pulled) == (401, "missing or wrong bearer token", 0), headers
        assert answer.headers["www-authenticate"] == "Bearer"


async def test_an_authenticated_oversized_post_is_413_unparsed(world: World) -> None:
    """Declared too large: refused from the header, nothing read. Sent without a length: refused
    once the limit is passed, the rest never pulled. Nothing changed either way."""
    auth = {"authorization": AUTH["Authorization"], "content-type": "application/json"}
    declared = await raw_post(world.service.app, api(world, "/symbols"), {**auth, "content-length": str(HUGE)}, HUGE)
    assert (declared.status, declared.pulled) == (413, 0)
    assert declared.detail == f"the request body is over the limit of {LIMIT} bytes"

    chunked = await raw_post(world.service.app, api(world, "/symbols"), {**auth, "transfer-encoding": "chunked"}, HUGE)
    assert (chunked.status, chunked.detail) == (413, declared.detail)
    assert LIMIT < chunked.pulled <= LIMIT + CHUNK
    assert await world.service.handlers.ctx.symbols.all() == world.symbols


async def test_a_streamed_body_over_the_limit_gets_413_over_httpx(http: httpx.AsyncClient, world: World) -> None:
    async def body() -> AsyncIterator[bytes]:  # no length: sent chunked
        for _ in range(HUGE // CHUNK):
            yield b" " * CHUNK

    res = await http.post(api(world, "/symbols"), content=body(), headers=AUTH)
    assert res.status_code == 413 and "over the limit" in res.json()["detail"]
    small = await http.post(api(world, "/symbols"), json={"symbols": world.spare[:1]}, headers=AUTH)
    assert small.status_code == 202  # a body within the limit goes through (accepted: it backfills)


async def test_only_the_configured_hosts_are_answered(http: httpx.AsyncClient) -> None:
    for host in ("evil.example", "admin.evil.example", ""):
        res = await http.get("/api/info", headers={"host": host})
        assert res.status_code == 400, host
        assert "does not answer to host" in res.json()["detail"]
    for host in ("admin", "admin:8080", "ADMIN", "127.0.0.1:8080"):  # admin_allowed_hosts, and admin_host
        assert (await http.get("/api/info", headers={"host": host})).status_code == 200, host


async def test_the_guard_covers_every_route_that_documents_the_token(http: httpx.AsyncClient) -> None:
    """RequestGuard checks the token for every method but GET and HEAD under /api/: each route that
    documents the bearer scheme is one of those, and each of those documents it."""
    paths = (await http.get("/openapi.json")).json()["paths"]
    operations = [(path, method, op) for path, ops in paths.items() for method, op in ops.items()]
    for path, method, op in operations:
        guarded = path.startswith("/api/") and method not in ("get", "head")
        assert ("security" in op) == guarded, (method, path)
    assert sum("security" in op for _, _, op in operations) == 6


async def test_a_slow_stream_drops_its_oldest_events() -> None:
    stream = Stream(backlog=3)
    for i in range(5):
        stream.offer(b"%d" % i)
    stream.lead_with(b"current")  # first, and the oldest kept gives way to it
    assert [await stream.next(0) for _ in range(4)] == [b"current", b"3", b"4", None]


def stats(updated_at: int, exchange_id: int) -> WarmupStats:
    return WarmupStats(exchange_id=exchange_id, status="complete", started_at=1, updated_at=updated_at)


async def subscribers(redis: Redis, exchange_id: int) -> int:
    channel = warmup_events_channel(exchange_id)
    return int(dict(await redis.pubsub_numsub(channel))[channel.encode()])


async def test_streams_share_one_subscription_and_the_cap_refuses_one_more(
    redis: Redis, redis_server: RedisServer
) -> None:
    store = WarmupStore(redis)
    async with (
        served_world(redis, redis_server.url, admin_max_streams=3) as world,
        serving(world.service.app) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        url = api(world, "/warmup/events")
        await store.publish_stats(stats(1, world.exchange_id))
        async with AsyncExitStack() as stack:
            streams = [sse_events(await stack.enter_async_context(client.stream("GET", url))) for _ in range(3)]
            assert [(await anext(s))["updatedAt"] for s in streams] == [1, 1, 1]  # the current stats first
            assert await subscribers(redis, world.exchange_id) == 1

            refused = await client.get(url)
            assert refused.status_code == 503 and int(refused.headers["retry-after"]) > 0
            assert refused.json()["detail"] == "3 event streams are open, as many as this server allows"

            await store.publish_stats(stats(2, world.exchange_id))
            assert [(await anext(s))["updatedAt"] for s in streams] == [2, 2, 2]
        async with client.stream("GET", url) as again:  # the others closed: room again
            assert (await anext(sse_events(again)))["updatedAt"] == 2
        while await subscribers(redis, world.exchange_id):  # the last one leaving ends the subscription
            await asyncio.sleep(0.02)


async def test_streams_need_the_token_beyond_loopback(redis: Redis, redis_server: RedisServer) -> None:
    store = WarmupStore(redis)
    async with (
        served_world(redis, redis_server.url, admin_host="0.0.0.0", admin_allowed_hosts=["127.0.0.1"]) as world,
        serving(world.service.app) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        await store.publish_stats(stats(7, world.exchange_id))
        url = api(world, "/warmup/events")
        for refused in (url, f"{url}?token=wrong", f"{url}?token="):
            res = await client.get(refused)
            assert (res.status_code, res.json()["detail"]) == (401, "missing or wrong bearer token"), refused
        for given in ({"params": {"token": TOKEN}}, {"headers": AUTH}):  # the page's query, or a header
            async with client.stream("GET", url, **given) as stream:
                assert stream.status_code == 200
                assert (await anext(sse_events(stream)))["updatedAt"] == 7


async def test_a_stream_survives_a_redis_restart_and_requests_meanwhile_get_json_503() -> None:
    with RedisServer(appendonly=True) as private:  # never the shared server: this test kills it
        redis = Redis.from_url(private.url)
        store = WarmupStore(redis)
        try:
            async with (
                served_world(redis, private.url) as world,
                serving(world.service.app) as base,
                httpx.AsyncClient(base_url=base, timeout=60) as client,
            ):
                await store.publish_stats(stats(1, world.exchange_id))
                url = api(world, "/warmup/events")
                async with client.stream("GET", url) as stream:
                    events = sse_events(stream)
                    assert (await anext(events))["updatedAt"] == 1

                    private.kill()
                    for path in ("/api/info", api(world, "/warmup/stats"), url):  # a new stream too
                        res = await client.get(path)
                        assert res.status_code == 503, path
                        assert res.json()["detail"].startswith("Redis is unavailable"), path
                        assert int(res.headers["retry-after"]) > 0

                    private.start()
                    assert (await anext(events))["updatedAt"] == 1  # resubscribed: the current stats again
                    await store.publish_stats(stats(2, world.exchange_id))
                    assert (await anext(events))["updatedAt"] == 2
                    assert await subscribers(redis, world.exchange_id) == 1
        finally:
            await redis.aclose()
