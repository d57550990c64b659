"""The instance status document's pure parts: its exact fields, times, transitions and the refusal."""

from __future__ import annotations

import orjson
import pytest

from livermore.warmup.instance import InstanceIdentity, follow_run, iso, refusal
from livermore.warmup.lock import LeaseHolder
from livermore.warmup.stats import WarmupStats

T0 = 1_700_000_000_000
SINCE = T0 + 1_000

# The original's document: every field, in its order, with the JSON types it may take.
FIELDS: dict[str, tuple[type, ...]] = {
    "exchangeId": (int,),
    "exchangeName": (str,),
    "hostname": (str,),
    "ipAddress": (str, type(None)),
    "countryCode": (str, type(None)),
    "adminEmail": (str, type(None)),
    "adminDisplayName": (str, type(None)),
    "connectionState": (str,),
    "symbolCount": (int,),
    "connectedAt": (str, type(None)),
    "lastHeartbeat": (str,),
    "lastStateChange": (str,),
    "registeredAt": (str,),
    "lastError": (str, type(None)),
    "lastErrorAt": (str, type(None)),
}


def identity() -> InstanceIdentity:
    return InstanceIdentity(2, "binance", "host-a", admin_email="ops@example.com")


def run(status: str, started_at: int = SINCE + 5, outcome: str | None = None) -> WarmupStats:
    stats = WarmupStats(exchange_id=2, started_at=started_at, updated_at=started_at)
    if status == "ended":
        stats.end(outcome or "complete", "why")  # type: ignore[arg-type]
    else:
        stats.status = status  # type: ignore[assignment]
    return stats


def test_the_document_has_exactly_the_originals_fields_in_order() -> None:
    doc = orjson.loads(identity().status("starting", 3, T0).to_json())
    assert list(doc) == list(FIELDS)
    for name, types in FIELDS.items():
        assert type(doc[name]) in types, name
    assert doc["connectionState"] == "starting"
    assert doc["registeredAt"] == doc["lastHeartbeat"] == doc["lastStateChange"] == "2023-11-14T22:13:20.000Z"
    assert (doc["connectedAt"], doc["lastError"], doc["ipAddress"]) == (None, None, None)


def test_iso_is_javascripts_to_iso_string() -> None:
    assert iso(T0 + 7) == "2023-11-14T22:13:20.007Z"


def test_connected_at_is_set_on_entering_active_kept_while_warming_and_cleared_when_stopped() -> None:
    status = identity().status("starting", 0, T0)
    status.move("active", T0 + 1000)
    assert status.connected_at == iso(T0 + 1000)
    status.move("warming", T0 + 2000)
    status.move("active", T0 + 3000)
    assert status.connected_at == iso(T0 + 1000)
    assert status.last_state_change == iso(T0 + 3000)
    status.move("stopped", T0 + 4000)
    assert status.connected_at is None


def test_an_error_is_recorded_with_its_time_and_kept() -> None:
    status = identity().status("warming", 0, T0)
    status.move("active", T0 + 1000, "warmup banned: 418")
    status.move("warming", T0 + 2000)
    assert (status.last_error, status.last_error_at) == ("warmup banned: 418", iso(T0 + 1000))


@pytest.mark.parametrize(
    ("current", "stats", "expected"),
    [
        ("starting", run("scanning"), ("warming", None)),
        ("active", run("fetching"), ("warming", None)),
        ("warming", run("touching_up"), None),
        ("warming", run("ended"), ("active", None)),
        ("starting", run("ended"), ("active", None)),
        ("active", run("ended"), None),
        ("warming", run("ended", outcome="cancelled"), ("active", None)),
        ("warming", run("ended", outcome="banned"), ("active", "warmup banned: why")),
        ("warming", run("ended", outcome="exchange_unreachable"), ("active", "warmup exchange_unreachable: why")),
        ("starting", run("ended", started_at=SINCE - 1), None),  # a run before this instance: history
        ("stopping", run("ended", outcome="interrupted"), None),  # the run shutdown interrupts
        ("stopped", run("scanning"), None),
    ],
)
def test_runs_move_the_instance(current: str, stats: WarmupStats, expected: object) -> None:
    assert follow_run(current, stats, SINCE) == expected  # type: ignore[arg-type]


def test_the_refusal_names_the_holder_and_when_its_key_expires() -> None:
    line = refusal("binance (2)", identity().status("active", 3, T0).to_json(), 40)
    assert "\n" not in line
    assert "binance (2) is already served by host-a (state active" in line
    assert "expires in 40 s" in line


def test_the_refusal_without_a_readable_document_names_what_it_knows() -> None:
    assert "by an instance whose status document this service cannot read" in refusal("binance (2)", b"{oops", 9)
    holder = LeaseHolder("t", "host-b", 42)
    assert "is already served by pid 42 on host-b: one instance" in refusal("binance (2)", None, -2, holder)
