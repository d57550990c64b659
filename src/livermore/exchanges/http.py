"""The HTTP discipline shared by every adapter: limiter first, then one GET, then what the answer means.

429 -> pause the whole exchange until Retry-After, then retry the same request.
418 -> pause until Retry-After, count it, log at ERROR, raise ExchangeBannedError (and refuse to send
       anything before the ban ends).
5xx, connection errors, timeouts, malformed JSON -> bounded retries with jittered exponential backoff.
Unknown symbol -> UnknownSymbolError at once; any other 4xx -> ExchangeError at once.
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


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: retries after failures, the backoff base (doubling, jittered 50-150%), and
    how many requests may be in flight at once."""

    max_retries: int
    backoff_base_s: float
    max_in_flight: int


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """How an adapter treats its exchange; built from Settings at the edge."""

    retry: RetryPolicy
    timeout_s: float
    safety_margin: float  # share of the published budget left unused


@dataclass(slots=True)
class AdapterMetrics:
    """What an adapter did; the executor reports these figures."""

    requests: int = 0
    weight_used: int = 0
    throttled: int = 0  # 429s received
    banned: int = 0  # 418s received
    retries: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


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
        self.client = client or httpx.AsyncClient(timeout=options.timeout_s)
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
        """The decoded JSON body of a successful GET, after whatever waiting and retrying is due."""
        failures = 0
        while True:
            response, failure = await self._send(path, params, weight)
            if response is not None:
                status = response.status_code
                if status == 429:
                    self.metrics.throttled += 1
                    pause_s = retry_after_s(response)
                    self.limiter.pause_until(self._clock() + pause_s)
                    failure = f"HTTP 429, paused {pause_s:g} s"
                elif status == 418:
                    self._banned(path, retry_after_s(response))
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
            self.metrics.retries += 1
            if response is None or response.status_code != 429:  # a 429's pause is its backoff
                delay = self.policy.backoff_base_s * 2 ** (failures - 1) * random.uniform(0.5, 1.5)
                log.warning("%s: GET %s: %s; retry %d in %.2f s", self.name, path, failure, failures, delay)
                await self._sleep(delay)

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
            self.metrics.requests += 1
            self.metrics.weight_used += weight
            try:
                response = await self.client.get(self.base_url + path, params=params)
            except httpx.TransportError as e:
                return None, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            else:
                if self._on_response is not None:
                    self._on_response(response, grant)
            finally:
                self.limiter.release(grant)
        return response, ""

    def _banned(self, path: str, pause_s: float) -> None:
        self.metrics.banned += 1
        self.banned_until = self._clock() + pause_s
        self.limiter.pause_until(self.banned_until)
        log.error("%s: HTTP 418 on GET %s: IP banned for %g s; sending nothing until then", self.name, path, pause_s)
        raise ExchangeBannedError(f"{self.name}: IP banned (HTTP 418) for {pause_s:g} s", self.banned_until)
