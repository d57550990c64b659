"""Exchange REST clients (never config, CLI or the simulator): the adapter interface and its shared
base, the HTTP discipline (`http`: retries, 429 pauses, 418 bans), client-side rate limiters, one
module per exchange, and the registry that names them."""

from livermore.exchanges.base import ExchangeAdapter, SymbolInfo
from livermore.exchanges.http import AdapterMetrics, ClientOptions, RetryPolicy
from livermore.exchanges.registry import EXCHANGES, exchange_spec, make_adapter

__all__ = [
    "EXCHANGES",
    "AdapterMetrics",
    "ClientOptions",
    "ExchangeAdapter",
    "RetryPolicy",
    "SymbolInfo",
    "exchange_spec",
    "make_adapter",
]
