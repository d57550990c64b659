"""The exchange double: a real HTTP server on loopback speaking Binance's and Coinbase's wire formats
and enforcing their rate-limit rules, over a deterministic market.

It is a product of its own, not part of the clients it tests: it imports nothing of livermore but
`models`, and keeps its own copy of the exchanges' constants (page sizes, weights, limits) on
purpose, so that an oracle never shares a mistake with the client it checks.
"""

from livermore.simulator.server import RunningSimulator, serve_simulator
from livermore.simulator.state import Simulator, SimulatorConfig

__all__ = ["RunningSimulator", "Simulator", "SimulatorConfig", "serve_simulator"]
