"""The names a user imports: `livermore.__all__` pinned exactly, and every package's `__all__` names
what the package defines, nothing more and nothing less (as httpx's tests/test_exported_members.py)."""

from __future__ import annotations

import importlib
import inspect

import pytest

import livermore


def public_names(module: object) -> set[str]:
    """Public attributes that are not submodules (those appear as a side effect of importing them)."""
    return {name for name, value in vars(module).items() if not name.startswith("_") and not inspect.ismodule(value)}


def test_top_level_exports() -> None:
    assert livermore.__all__ == [
        "Candle",
        "CandleCache",
        "LivermoreError",
        "Settings",
        "Timeframe",
        "WarmupService",
        "WarmupStats",
        "make_adapter",
    ]
    assert public_names(livermore) == set(livermore.__all__)
    for name in livermore.__all__:
        exec(f"from livermore import {name}", {})


@pytest.mark.parametrize(
    "package", ["livermore.warmup", "livermore.exchanges", "livermore.cache", "livermore.simulator"]
)
def test_package_exports_resolve(package: str) -> None:
    module = importlib.import_module(package)
    exported = module.__all__
    assert len(exported) == len(set(exported))
    assert all(getattr(module, name, None) is not None for name in exported)
    assert public_names(module) == set(exported)
