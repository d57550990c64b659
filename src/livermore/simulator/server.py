"""Serving the simulator with uvicorn: in the current event loop (tests, demo) or blocking (CLI)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn

from livermore.simulator.app import build_app
from livermore.simulator.state import Simulator, SimulatorConfig


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    """A simulator being served: where to reach it and its in-process state."""

    base_url: str
    simulator: Simulator


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this; without it keep-alive responses stall on delayed ACKs (~40 ms).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


def _server(sim: Simulator) -> uvicorn.Server:
    config = uvicorn.Config(
        build_app(sim),
        log_level="warning",
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    return uvicorn.Server(config)


@asynccontextmanager
async def serve_simulator(
    config: SimulatorConfig | Simulator, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningSimulator]:
    """Serve a simulator on `host:port` (0: a free port) as a task of the running loop."""
    sim = config if isinstance(config, Simulator) else Simulator(config)
    sock = _bind(host, port)
    server = _server(sim)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises the startup error
            await asyncio.sleep(0.005)
        yield RunningSimulator(f"http://{host}:{sock.getsockname()[1]}", sim)
    finally:
        server.should_exit = True
        await task
        sock.close()


def run(config: SimulatorConfig, host: str = "127.0.0.1", port: int = 8900) -> None:
    """Serve until interrupted (Ctrl-C)."""
    with _bind(host, port) as sock:
        _server(Simulator(config)).run(sockets=[sock])
