"""LeaseHolder: the lease value's document, and when its holder is provably dead (pure, no Redis)."""

from __future__ import annotations

import os

import orjson
import pytest

from livermore.warmup.lock import LeaseHolder, LockHeldError, pid_exists, pid_namespace

NS = pid_namespace()


def test_the_value_is_a_camel_case_document_and_round_trips() -> None:
    holder = LeaseHolder("abc", "host-a", 4242, 1_700_000_000_000, 4026531836)
    assert orjson.loads(holder.to_json()) == {
        "token": "abc",
        "host": "host-a",
        "pid": 4242,
        "acquiredAt": 1_700_000_000_000,
        "pidNs": 4026531836,
    }
    assert list(orjson.loads(holder.to_json())) == ["token", "host", "pid", "acquiredAt", "pidNs"]
    assert LeaseHolder.from_json(holder.to_json()) == holder
    assert LeaseHolder.from_json(holder.to_json().encode()) == holder
    assert holder.known and holder.describe() == "pid 4242 on host-a"


@pytest.mark.parametrize(
    "raw",
    [
        b"their-token",  # a plain token, as the lease held before it recorded its holder
        b"\xff\xfe not utf-8",
        b"[1, 2]",
        b'"a string"',
        b"{}",
        b'{"token": "t", "host": "h"}',  # no pid
        b'{"token": "t", "host": "h", "pid": true}',
        b'{"token": "t", "host": "h", "pid": "12"}',
        b'{"token": "t", "host": "h", "pid": 0}',
        b'{"token": "t", "host": "h", "pid": -5}',
        b'{"token": "t", "host": "", "pid": 12}',
        b'{"token": 7, "host": "h", "pid": 12}',
    ],
)
def test_anything_else_is_an_unknown_holder_that_is_never_dead(raw: bytes) -> None:
    holder = LeaseHolder.from_json(raw)
    assert (holder.host, holder.pid, holder.acquired_at) == (None, None, None)
    assert holder.token == raw.decode(errors="replace")
    assert not holder.known and holder.describe() == "an unknown holder"
    assert not holder.provably_dead("h", pid_exists=lambda _: False)


def test_a_missing_or_odd_acquired_at_or_pid_ns_does_not_make_the_holder_unknown() -> None:
    assert LeaseHolder.from_json(b'{"token": "t", "host": "h", "pid": 12}') == LeaseHolder("t", "h", 12)
    odd = LeaseHolder.from_json(b'{"token": "t", "host": "h", "pid": 12, "acquiredAt": "x", "pidNs": "y"}')
    assert odd == LeaseHolder("t", "h", 12) and odd.known


def test_dead_only_on_our_host_in_our_pid_namespace_with_its_process_gone() -> None:
    holder = LeaseHolder("t", "host-a", 4242, 0, NS)
    assert holder.provably_dead("host-a", pid_exists=lambda pid: pid != 4242)
    assert not holder.provably_dead("host-a", pid_exists=lambda _: True)
    assert not holder.provably_dead("host-b", pid_exists=lambda _: False)  # a pid means nothing elsewhere


@pytest.mark.skipif(NS is None, reason="no pid namespaces here")
def test_a_pid_in_another_pid_namespace_proves_nothing() -> None:
    """Two containers with the host's network share its hostname, not its pids."""

    def gone(pid: int) -> bool:
        return False

    assert not LeaseHolder("t", "host-a", 4242, 0, (NS or 0) + 1).provably_dead("host-a", pid_exists=gone)
    assert not LeaseHolder("t", "host-a", 4242, 0, None).provably_dead("host-a", pid_exists=gone)


def test_our_own_pid_with_a_token_no_lease_here_holds_is_an_earlier_process() -> None:
    """A container restarted after kill -9 gives its service the pid it had (often 1): that pid
    exists (it is us), yet the lease is not held by any LeaseLock of this process."""
    earlier = LeaseHolder("not-ours", "host-a", os.getpid(), 0, NS)
    assert earlier.provably_dead("host-a", pid_exists=lambda _: True)


def test_pid_exists_only_process_lookup_error_proves_absence() -> None:
    assert pid_exists(os.getpid())
    assert pid_exists(2**40)  # OverflowError proves nothing
    if os.geteuid() != 0:
        assert pid_exists(1)  # PermissionError: it exists, as another user's


def test_lock_held_error_names_the_holder() -> None:
    err = LockHeldError("k", LeaseHolder("t", "host-a", 4242, 0))
    assert str(err) == "lease k is held by pid 4242 on host-a" and err.holder.pid == 4242
    assert str(LockHeldError("k", LeaseHolder("t"))) == "lease k is held by an unknown holder"
