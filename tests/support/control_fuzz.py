"""Control messages drawn by hypothesis, and the count of those the listener left unanswered: shared
by the control tests and the fault suite (`make reliability`), which fuzz a listener in-process and a
running `livermore serve`.

The draws mix junk (bytes, JSON that is no object), ill-typed envelopes and valid-shaped commands of
every known type with random payloads (real symbols among them, so some commands do real work).
Every one of them must get exactly one final reply (`success` or `error`), under the correlation id
it carried when that is a string, else under null.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any, TypeVar

import orjson
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st

from livermore.cli.send import COMMAND_TYPES
from livermore.control.client import FINAL, ControlClient
from livermore.control.payloads import VALID_MODES
from livermore.control.protocol import Response
from livermore.models import Timeframe, now_ms

T = TypeVar("T")
KNOWN_TYPES = COMMAND_TYPES.split(", ")
PAYLOAD_FIELDS = ("symbol", "symbols", "timeframes", "timeframe", "scope", "mode", "exchange")
_NOBODY = "no command carries this correlation id"

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)  # orjson refuses lone surrogates
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)


def control_messages(symbols: Sequence[str]) -> st.SearchStrategy[bytes]:
    """Raw messages as a publisher might send them: a third valid commands, a third valid-shaped
    envelopes with random fields, a third junk."""
    junk = st.binary(max_size=40) | JSON.map(orjson.dumps)
    return st.one_of(_commands(symbols).map(orjson.dumps), _envelopes(symbols).map(orjson.dumps), junk)


def _fresh_id() -> st.SearchStrategy[str]:
    """A correlation id of its own, as publishers make them (hypothesis's `uuids()` repeats some):
    two identical messages would be one queued command (see `missing_replies`)."""
    return st.builds(lambda: str(uuid.uuid4()))


def _now_plus(low: int, high: int) -> st.SearchStrategy[int]:
    """A timestamp (ms) drawn relative to when it is drawn."""
    return st.builds(lambda offset: now_ms() + offset, st.integers(low, high))


def _commands(symbols: Sequence[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Valid commands of every type, with payloads their handlers accept (the symbols: real ones)."""
    symbol = st.sampled_from(symbols)
    timeframe = st.sampled_from([tf.value for tf in Timeframe])
    payloads: dict[str, st.SearchStrategy[dict[str, Any] | None]] = {
        "start": st.none() | st.fixed_dictionaries({"timeframes": st.lists(timeframe, min_size=1, max_size=2)}),
        "switch-mode": st.fixed_dictionaries({"mode": st.sampled_from(VALID_MODES)}),
        "force-backfill": st.fixed_dictionaries({"symbol": symbol}),
        "add-symbol": st.fixed_dictionaries({"symbol": symbol}),
        "remove-symbol": st.fixed_dictionaries({"symbol": symbol}),
        "bulk-add-symbols": st.fixed_dictionaries({"symbols": st.lists(symbol, min_size=1, max_size=3)}),
        "clear-cache": st.fixed_dictionaries({"scope": st.just("all")})
        | st.fixed_dictionaries({"scope": st.just("symbol"), "symbol": symbol})
        | st.fixed_dictionaries({"scope": st.just("timeframe"), "timeframe": timeframe}),
    }
    return st.sampled_from(KNOWN_TYPES).flatmap(
        lambda kind: st.fixed_dictionaries(
            {
                "correlationId": _fresh_id(),
                "type": st.just(kind),
                "timestamp": _now_plus(-1_000, 1_000),
                "priority": st.integers(1, 100),
                "payload": payloads.get(kind, st.none()),
            }
        )
    )


def _envelopes(symbols: Sequence[str]) -> st.SearchStrategy[dict[str, Any]]:
    """`{correlationId, type, timestamp, payload?, priority?}`: mostly well typed, sometimes not,
    and some too old (a command older than 30 s is refused as expired)."""
    value = st.sampled_from([*symbols, *(tf.value for tf in Timeframe), "7m", "all", "symbol"]) | JSON
    payload = st.none() | st.dictionaries(st.sampled_from(PAYLOAD_FIELDS) | TEXT, value | st.lists(value), max_size=3)
    return st.fixed_dictionaries(
        {
            "correlationId": _fresh_id() | st.just("") | JSON.filter(lambda v: not isinstance(v, str)),
            "type": st.sampled_from(KNOWN_TYPES) | TEXT,
            "timestamp": _now_plus(-40_000, 5_000) | JSON,
        },
        optional={"payload": payload | JSON, "priority": st.integers(1, 100) | JSON},
    )


def sample(strategy: st.SearchStrategy[T], n: int) -> list[T]:
    """`n` draws of `strategy` by hypothesis's own engine (generation only: nothing to shrink, no
    example database), to publish in one go rather than one awaited example at a time."""
    drawn: list[T] = []

    @settings(
        max_examples=n,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    @given(strategy)
    def collect(x: T) -> None:
        drawn.append(x)

    collect()
    return drawn


def reply_key(raw: bytes) -> str | None:
    """The correlation id the message's replies must carry: its own when it is a string, else null."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    cid = doc.get("correlationId") if isinstance(doc, dict) else None
    return cid if isinstance(cid, str) else None


def missing_replies(sent: Sequence[bytes], replies: Sequence[Response]) -> int:
    """Messages sent whose final reply has not come: per correlation id, one final reply each.

    (Two byte-identical valid commands get two acks but one final reply: the queue is a sorted set
    of the commands' JSON. The draws above never repeat a valid command.)"""
    expected = Counter(reply_key(raw) for raw in sent)
    final = Counter(r.correlation_id for r in replies if r.status in FINAL)
    return sum(max(0, n - final[cid]) for cid, n in expected.items())


async def missing_after(client: ControlClient, sent: Sequence[bytes], timeout_s: float) -> int:
    """Read replies until every message in `sent` has its final reply, or `timeout_s` passed; how
    many are still missing then. (Waiting on an id nobody carries reads every reply into `received`.)"""
    deadline = now_ms() + timeout_s * 1000
    while (missing := missing_replies(sent, client.received)) and now_ms() < deadline:
        with contextlib.suppress(TimeoutError):
            await client.wait_for(_NOBODY, timeout=min(1.0, max(0.01, (deadline - now_ms()) / 1000)))
    return missing


async def calm(client: ControlClient, symbols: Sequence[str], timeout_s: float = 30.0) -> None:
    """Undo what a fuzz may have left in the way of a real `start`: a pause, a running warmup (waited
    out) and monitored symbols removed."""
    for command_type, payload in (("resume", None), ("cancel", None), ("bulk-add-symbols", {"symbols": symbols})):
        await client.request(command_type, payload, timeout=timeout_s)
    async with asyncio.timeout(timeout_s):
        while (await client.request("status", timeout=timeout_s)).data["running"]:
            await asyncio.sleep(0.05)
