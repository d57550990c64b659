"""Exchange REST adapters with rate-limit discipline, and a local exchange simulator."""

from livermore.exchanges.base import (
    AdapterMetrics,
    ExchangeAdapter,
    ExchangeBannedError,
    ExchangeError,
    SymbolInfo,
    UnknownSymbolError,
)
from livermore.exchanges.factory import make_adapter

__all__ = [
    "AdapterMetrics",
    "ExchangeAdapter",
    "ExchangeBannedError",
    "ExchangeError",
    "SymbolInfo",
    "UnknownSymbolError",
    "make_adapter",
]
