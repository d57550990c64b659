"""The HTTP discipline shared by every adapter: limiter first, then one GET, then what the answer means.

429 -> pause the whole exchange until Retry-After, then retry the same request. A 429 is the exchange
       asking us to wait, not a failure: it does not spend the retry budget. What bounds it is the
       request's deadline (`RetryPolicy.give_up_after_s`, counted from the call, 429 pauses included).
418 -> pause until Retry-After, count it, log at ERROR, raise ExchangeBannedError (and refuse to send
       anything before the ban ends).
5xx, connection errors, timeouts, malformed JSON -> bounded retries (`max_retries`) with jittered
       exponential backoff, within the same deadline.
Unknown symbol -> UnknownSymbolError at once; any other 4xx -> ExchangeError at once.

Counting (`AdapterMetrics`): `requests` and `weight_used` count only requests that reached the
exchange (an answer came back, or the connection was made before it failed, so the server may have
counted it); a connection that was never made (refused, connect timeout) is not counted.
`throttled` counts every 429; `retries` counts only retries after a failure (never after a 429).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import orjson

from livermore.errors import ExchangeBannedError, ExchangeError, UnknownSymbolError
from livermore.exchanges.ratelimit import Clock, Grant, Limiter

log = logging.getLogger(__name__)

_DEFAULT_RETRY_AFTER_S = {429: 1.0, 418: 120.0}
_MIN_429_PAUSE_S = 0.25  # a "Retry-After: 0" must not become a hot loop now that 429s spend no retries


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: retries after failures (429s are not failures), the backoff base (doubling,
    jittered 50-150%), how many requests may be in flight at once, and how long one request may go
    on trying (waits for the limiter, 429 pauses and backoff included) before it gives up."""

    max_retries: int
    backoff_base_s: float
    max_in_flight: int
    give_up_after_s: float


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """How an adapter treats its exchange; built from Settings at the edge."""

    retry: RetryPolicy
    timeout_s: float
    safety_margin: float  # share of the published budget left unused
    egress: str  # the label of the IP we send from: processes with one label share one budget in Redis
    source_address: str | None  # the local IP requests leave from (None: the system's choice)


@dataclass(slots=True)
class AdapterMetrics:
    """What an adapter did; the executor reports these figures."""

    requests: int = 0
    weight_used: int = 0
    throttled: int = 0  # 429s received (each one waited out, then the request sent again)
    banned: int = 0  # 418s received
    retries: int = 0  # retries after a failure (5xx, transport error, malformed body); not after a 429

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


# Raised before the request left this machine: no connection to the exchange was ever made, so the
# exchange counted nothing. Every other transport error happened on an open connection (the request
# may have been read and counted: ReadTimeout, RemoteProtocolError, ...).
_NEVER_SENT: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
)


def _client(options: ClientOptions) -> httpx.AsyncClient:
    """An httpx client whose connections leave from `options.source_address` when one is set, so
    that the exchange (or the simulator) counts them under that IP."""
    bound = options.source_address
    transport = httpx.AsyncHTTPTransport(local_address=bound) if bound else None
    return httpx.AsyncClient(timeout=options.timeout_s, transport=transport)


def retry_after_s(response: httpx.Response) -> float:
    """Seconds from the Retry-After header (or a conservative default for the status)."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return _DEFAULT_RETRY_AFTER_S.get(response.status_code, 1.0)


class RestClient:
    """GETs JSON from one exchange through its limiter, counted in `metrics`."""

    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient | None,
        base_url: str,
        limiter: Limiter,
        metrics: AdapterMetrics,
        options: ClientOptions,
        *,
        is_unknown_symbol: Callable[[httpx.Response], bool],
        on_response: Callable[[httpx.Response, Grant], None] | None = None,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.name = name
        self._owns_client = client is None  # an injected client is closed by whoever made it
        self.client = client or _client(options)
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.metrics = metrics
        self.policy = options.retry
        self._is_unknown_symbol = is_unknown_symbol
        self._on_response = on_response
        self._clock = clock
        self._sleep = sleep
        self._in_flight = asyncio.Semaphore(options.retry.max_in_flight)
        self.banned_until = 0.0

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None, weight: int = 1) -> Any:
        """The decoded JSON body of a successful GET, after whatever waiting and retrying is due.

        A 429 pauses the exchange for its Retry-After and the request is sent again without spending
        a retry; failures get `max_retries` retries. Either way the request gives up (ExchangeError)
        rather than wait past `give_up_after_s` from this call."""
        started = self._clock()
        failures = 0
        throttled = 0
        while True:
            response, failure = await self._send(path, params, weight)
            if response is not None:
                status = response.status_code
                if status == 429:
                    self.metrics.throttled += 1
                    throttled += 1
                    pause_s = max(_MIN_429_PAUSE_S, retry_after_s(response))
                    await self.limiter.pause_until(self._clock() + pause_s)  # for every request, even if we give up
                    self._give_up_if_late(path, started, pause_s, f"HTTP 429 (Retry-After {pause_s:g} s)", throttled)
                    continue  # the limiter sleeps out the pause; not a failure, no retry spent
                if status == 418:
                    await self._banned(path, retry_after_s(response))
                elif self._is_unknown_symbol(response):
                    raise UnknownSymbolError(f"{self.name}: unknown symbol ({path} {dict(params or {})})")
                elif 200 <= status < 300:
                    try:
                        return orjson.loads(response.content)
                    except orjson.JSONDecodeError:
                        failure = f"malformed JSON in HTTP {status} body {response.content[:60]!r}"
                elif status < 500:
                    raise ExchangeError(f"{self.name}: GET {path} -> HTTP {status}: {response.text[:200]}")
                else:
                    failure = f"HTTP {status}"
            failures += 1
            if failures > self.policy.max_retries:
                raise ExchangeError(f"{self.name}: GET {path} failed {failures} times; last: {failure}")
            delay = self.policy.backoff_base_s * 2 ** (failures - 1) * random.uniform(0.5, 1.5)
            self._give_up_if_late(path, started, delay, failure, throttled)
            self.metrics.retries += 1
            log.warning("%s: GET %s: %s; retry %d in %.2f s", self.name, path, failure, failures, delay)
            await self._sleep(delay)

    def _give_up_if_late(self, path: str, started: float, wait_s: float, last: str, throttled: int) -> None:
        """Raise ExchangeError if waiting `wait_s` more would take the request past its deadline."""
        deadline_s = self.policy.give_up_after_s
        elapsed_s = self._clock() - started
        if elapsed_s + wait_s <= deadline_s:
            return
        raise ExchangeError(
            f"{self.name}: GET {path} gave up after {elapsed_s:.1f} s ({throttled} HTTP 429 pauses obeyed): "
            f"waiting {wait_s:g} s more would pass its {deadline_s:g} s deadline; last: {last}"
        )

    async def _send(
        self, path: str, params: Mapping[str, Any] | None, weight: int
    ) -> tuple[httpx.Response | None, str]:
        """One attempt: (response, '') or (None, why it failed before an HTTP answer)."""
        async with self._in_flight:  # acquire inside: a granted request is sent at once, not later
            if self._clock() < self.banned_until:
                raise ExchangeBannedError(
                    f"{self.name}: banned (HTTP 418) until {self.banned_until:.0f}", self.banned_until
                )
            grant = await self.limiter.acquire(weight)
            reached = True  # unless we know it never left: the server may have counted it
            try:
                response = await self.client.get(self.base_url + path, params=params)
            except httpx.TransportError as e:
                reached = not isinstance(e, _NEVER_SENT)
                return None, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            else:
                if self._on_response is not None:
                    self._on_response(response, grant)
            finally:
                if reached:
                    self.metrics.requests += 1
                    self.metrics.weight_used += weight
                # Released either way. A request that never connected stays charged to the window
                # (Limiter has no refund): that over-counts ours by its weight, which is safe, and
                # the next answer's used-weight header lowers `others` by as much where it can.
                self.limiter.release(grant)
        return response, ""

    async def _banned(self, path: str, pause_s: float) -> None:
        self.metrics.banned += 1
        self.banned_until = self._clock() + pause_s
        await self.limiter.pause_until(self.banned_until)
        log.error("%s: HTTP 418 on GET %s: IP banned for %g s; sending nothing until then", self.name, path, pause_s)
        raise ExchangeBannedError(f"{self.name}: IP banned (HTTP 418) for {pause_s:g} s", self.banned_until)
