"""The control channel's wire format: what parse_command refuses (and which correlation id the refusal
carries), the JSON of commands and replies, and the payload models' normalising and refusals."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from livermore.control.payloads import (
    BulkSymbolsPayload,
    ClearCachePayload,
    ForceBackfillPayload,
    NoPayload,
    StartPayload,
    SymbolPayload,
)
from livermore.control.protocol import BadCommand, Response, parse_command
from livermore.models import Timeframe


def raw(**fields: Any) -> bytes:
    return orjson.dumps({"correlationId": "c1", "type": "start", "timestamp": 1, **fields})


@pytest.mark.parametrize(
    ("message", "error", "cid"),
    [
        (b"nope", "message is not JSON", None),
        (b"[1, 2]", "message is not a JSON object", None),
        (b'"text"', "message is not a JSON object", None),
        (b'{"type": "start"}', "invalid command: correlationId: Field required; timestamp: Field required", None),
        (raw(priority=0), "invalid command: priority: Input should be greater than or equal to 1", "c1"),
        (raw(priority=101), "invalid command: priority: Input should be less than or equal to 100", "c1"),
        (raw(type=""), "invalid command: type: String should have at least 1 character", "c1"),
        (raw(correlationId=7, priority=0), "invalid command: correlationId: Input should be a valid string", None),
    ],
)
def test_refused(message: bytes, error: str, cid: str | None) -> None:
    with pytest.raises(BadCommand) as exc:
        parse_command(message)
    assert str(exc.value).startswith(error)
    assert exc.value.correlation_id == cid


def test_defaults_and_command_json() -> None:
    cmd = parse_command(raw().decode())
    assert (cmd.correlation_id, cmd.type, cmd.payload, cmd.timestamp, cmd.priority) == ("c1", "start", None, 1, 50)
    assert cmd.to_json() == b'{"correlationId":"c1","type":"start","timestamp":1,"priority":50}'
    with_payload = parse_command(raw(payload={"symbol": "X"}, priority=100, extra="ignored"))
    assert with_payload.to_json() == (
        b'{"correlationId":"c1","type":"start","payload":{"symbol":"X"},"timestamp":1,"priority":100}'
    )


def test_response_json_keeps_null_correlation_id_only() -> None:
    assert Response(correlation_id=None, status="error", message="bad", timestamp=5).to_json() == (
        b'{"correlationId":null,"status":"error","message":"bad","timestamp":5}'
    )
    assert Response(correlation_id="c", status="ack", data={"n": 0}, timestamp=5).to_json() == (
        b'{"correlationId":"c","status":"ack","data":{"n":0},"timestamp":5}'
    )


def test_symbols_normalised() -> None:
    assert SymbolPayload(symbol=" btc-usd ").symbol == "BTC-USD"
    assert BulkSymbolsPayload(symbols=["ethusdt", " Sol-Usd"]).symbols == ["ETHUSDT", "SOL-USD"]
    with pytest.raises(ValidationError):
        SymbolPayload(symbol="")
    with pytest.raises(ValidationError):
        BulkSymbolsPayload(symbols=[])


def test_blank_symbol_refused() -> None:
    """A blank symbol once became "", and clear-cache of symbol "" cleared every key of the exchange."""
    with pytest.raises(ValidationError):
        ClearCachePayload(scope="symbol", symbol="   ")


@pytest.mark.parametrize("value", ["1h,5m", " 1h 5m ", ["1h", "5m"]])
def test_timeframes_as_string_or_list(value: str | list[str]) -> None:
    assert StartPayload.model_validate({"timeframes": value}).timeframes == [Timeframe.H1, Timeframe.M5]
    assert ForceBackfillPayload.model_validate({"symbol": "x", "timeframes": value}).timeframes == [
        Timeframe.H1,
        Timeframe.M5,
    ]


@pytest.mark.parametrize("value", ["1h,7m", ["7m"]])
def test_unknown_timeframe_lists_the_supported(value: str | list[str]) -> None:
    with pytest.raises(ValidationError, match=r"unknown timeframe '7m' \(supported: 1m 5m 15m 30m 1h 2h 4h 6h 1d\)"):
        StartPayload.model_validate({"timeframes": value})


def test_no_timeframes_refused_none_means_default() -> None:
    assert StartPayload().timeframes is None
    for value in ("", []):
        with pytest.raises(ValidationError):
            StartPayload.model_validate({"timeframes": value})


def test_clear_cache_scope() -> None:
    assert ClearCachePayload(scope="all").model_dump() == {"scope": "all", "symbol": None, "timeframe": None}
    assert ClearCachePayload.model_validate({"scope": "symbol", "symbol": "eth-usd"}).symbol == "ETH-USD"
    assert ClearCachePayload.model_validate({"scope": "timeframe", "timeframe": "5m"}).timeframe == Timeframe.M5
    for bad, message in [
        ({"scope": "symbol"}, "scope 'symbol' needs a symbol"),
        ({"scope": "timeframe", "symbol": "X"}, "scope 'timeframe' needs a timeframe"),
        ({"scope": "everything"}, "Input should be 'all', 'symbol' or 'timeframe'"),
    ]:
        with pytest.raises(ValidationError, match=message):
            ClearCachePayload.model_validate(bad)


@pytest.mark.parametrize(
    ("model", "payload"),
    [
        (NoPayload, {"force": True}),
        (StartPayload, {"symbols": ["X"]}),
        (SymbolPayload, {"symbol": "X", "timeframes": "5m"}),
        (ClearCachePayload, {"scope": "all", "exchange": 1}),
    ],
)
def test_extra_fields_refused(model: type[NoPayload], payload: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate(payload)
