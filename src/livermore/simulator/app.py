"""The simulator's ASGI app: rate rules, then faults, then the exchange's wire format; /sim controls.

Order for every exchange request: latency -> rate rule (429/418, counted) -> injected faults
(timeout, 5xx, garbage, per-symbol status) -> normal handling; the Binance weight header is on all.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from livermore.simulator.limits import Verdict
from livermore.simulator.state import Simulator
from livermore.simulator.wire.binance import BinanceWire
from livermore.simulator.wire.coinbase import CoinbaseWire


class Wire(Protocol):
    """One exchange's endpoints and error bodies."""

    def weight(self, request: Request) -> int | None: ...
    def symbol_of(self, request: Request) -> str | None: ...
    def decorate(self, response: Response, used_weight: int) -> Response: ...
    def not_found(self) -> Response: ...
    def rejected(self, verdict: Verdict) -> Response: ...
    def server_error(self, status: int) -> Response: ...
    async def handle(self, request: Request) -> Response: ...


class ClockChange(BaseModel):
    offset_ms: int | None = None
    fixed_time_ms: int | None = None


async def _hang(request: Request, seconds: float) -> None:
    """Wait until the client gives up (disconnects) or `seconds` pass."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(disconnected(), seconds)


def build_app(sim: Simulator) -> Starlette:
    """An ASGI app serving `sim` with its exchange's wire format."""
    wire: Wire = BinanceWire(sim) if sim.config.exchange == "binance" else CoinbaseWire(sim)

    async def faulted(request: Request) -> Response | None:
        f = sim.faults
        roll = sim.rng.random()
        if roll < f.timeout_rate:
            await _hang(request, f.timeout_s)
            return wire.server_error(504)
        roll -= f.timeout_rate
        if roll < f.error_rate:
            return wire.server_error(sim.rng.choice((500, 503)))
        roll -= f.error_rate
        if roll < f.malformed_rate:
            return Response(b"garbage{", 200, media_type="application/json")
        status = f.symbol_errors.get(wire.symbol_of(request) or "")
        return wire.server_error(status) if status else None

    async def exchange(request: Request) -> Response:
        ip = request.client.host if request.client else "unknown"
        at = sim.wall()
        weight = wire.weight(request)
        if weight is None:
            return wire.not_found()
        # Half the latency on the way in, half on the way back: like the real exchange, the request
        # is counted (and its used-weight header computed) when it arrives, not when it is answered.
        low, high = sim.faults.latency_ms
        half_latency_s = sim.rng.uniform(low, high) / 2000 if high > 0 else 0.0
        await asyncio.sleep(half_latency_s)
        verdict = sim.admit(ip, weight)
        used = sim.used_weight(ip)
        response = wire.rejected(verdict) if verdict else (await faulted(request) or await wire.handle(request))
        sim.record(ip, request.url.path, response.status_code, weight, at)
        await asyncio.sleep(half_latency_s)
        return wire.decorate(response, used)

    async def stats(request: Request) -> Response:
        return JSONResponse(sim.stats())

    async def clock(request: Request) -> Response:
        try:
            change = ClockChange.model_validate_json(await request.body())
        except ValidationError as e:
            return JSONResponse({"error": str(e)}, 400)
        sim.set_clock(offset_ms=change.offset_ms, fixed_time_ms=change.fixed_time_ms)
        return JSONResponse({"now_ms": sim.now_ms()})

    async def faults(request: Request) -> Response:
        try:
            sim.set_faults(**(await request.json()))
        except (ValidationError, ValueError, TypeError) as e:
            return JSONResponse({"error": str(e)}, 400)
        return JSONResponse(sim.faults.model_dump())

    async def reset(request: Request) -> Response:
        sim.reset()
        return JSONResponse(sim.stats())

    return Starlette(
        routes=[
            Route("/sim/stats", stats),
            Route("/sim/clock", clock, methods=["POST"]),
            Route("/sim/faults", faults, methods=["POST"]),
            Route("/sim/reset", reset, methods=["POST"]),
            Route("/{path:path}", exchange),
        ]
    )
