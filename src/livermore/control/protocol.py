"""The control channel's wire format, byte-compatible with the original (its admin UI publishes commands)."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

COMMAND_TTL_MS = 30_000
DEFAULT_PRIORITY = 50

ResponseStatus = Literal["ack", "success", "error"]


class Command(BaseModel):
    """`{correlationId, type, payload?, timestamp (ms), priority (1..100)}`."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    correlation_id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    payload: dict[str, Any] | None = None
    timestamp: int
    priority: int = Field(DEFAULT_PRIORITY, ge=1, le=100)

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


class Response(BaseModel):
    """`{correlationId, status, message?, data?, timestamp}`; correlationId is null when unreadable."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    correlation_id: str | None
    status: ResponseStatus
    message: str | None = None
    data: Any = None
    timestamp: int

    def to_json(self) -> bytes:
        doc = self.model_dump(by_alias=True, mode="json")
        return orjson.dumps({k: v for k, v in doc.items() if v is not None or k == "correlationId"})


class BadCommand(Exception):
    """A message that is not a valid command; `correlation_id` is whatever could be read from it."""

    def __init__(self, message: str, correlation_id: str | None):
        super().__init__(message)
        self.correlation_id = correlation_id


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, `field: reason`, for replies an operator can act on."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_command(raw: bytes | str) -> Command:
    """Parse a published message; raises BadCommand naming the problem."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadCommand(f"message is not JSON: {exc}", None) from None
    if not isinstance(doc, dict):
        raise BadCommand("message is not a JSON object", None)
    cid = doc.get("correlationId")
    try:
        return Command.model_validate(doc)
    except ValidationError as exc:
        raise BadCommand(
            f"invalid command: {describe_validation_error(exc)}", cid if isinstance(cid, str) else None
        ) from None
