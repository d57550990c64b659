"""One pydantic model per command payload: bad input is refused with a reply naming the field."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from livermore.models import Timeframe
from livermore.warmup.symbols import normalize_symbol

# Stripped before its length is checked: "  " is refused, never used as "" (which once cleared a whole cache).
Symbol = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40), AfterValidator(normalize_symbol)
]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _WithTimeframes(_Payload):
    timeframes: list[Timeframe] | None = Field(None, min_length=1)

    @field_validator("timeframes", mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        """Accept '1h,5m' as well as ['1h','5m'], with Timeframe.parse's error listing the names."""
        if isinstance(value, str):
            return Timeframe.parse_list(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [Timeframe.parse(v) for v in value]
        return value


class NoPayload(_Payload):
    """status, cancel, stop, pause, resume, reload-settings."""


class StartPayload(_WithTimeframes):
    """start: the monitored symbols, on the served timeframes unless given. `exchange` is what the
    original's admin sends (`{"exchange": "coinbase"}`): it must name the exchange served here."""

    exchange: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1)] | None = None


VALID_MODES = ("position-monitor", "scalper-macdv", "scalper-orderbook")


class SwitchModePayload(_Payload):
    """switch-mode: validated like the original's; this service has no strategy modes to switch."""

    mode: str

    @field_validator("mode")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in VALID_MODES:
            raise ValueError(f"invalid mode {value!r} (valid modes: {', '.join(VALID_MODES)})")
        return value


class ForceBackfillPayload(_WithTimeframes):
    symbol: Symbol


class SymbolPayload(_Payload):
    """add-symbol, remove-symbol."""

    symbol: Symbol


class BulkSymbolsPayload(_Payload):
    symbols: list[Symbol] = Field(min_length=1, max_length=1000)


class ClearCachePayload(_Payload):
    scope: Literal["all", "symbol", "timeframe"]
    symbol: Symbol | None = None
    timeframe: Timeframe | None = None

    @model_validator(mode="after")
    def _scope_has_its_field(self) -> ClearCachePayload:
        if self.scope == "symbol" and self.symbol is None:
            raise ValueError("scope 'symbol' needs a symbol")
        if self.scope == "timeframe" and self.timeframe is None:
            raise ValueError("scope 'timeframe' needs a timeframe")
        return self
