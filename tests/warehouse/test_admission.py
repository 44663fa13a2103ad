"""Admission: a shop owner's share of the engine, queued in order; admins unlimited."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from warehouse.server.admission import Admission

pytestmark = pytest.mark.unit


def _admission(pool_size: int = 16) -> Admission:
    return Admission(pool_size, restricted=lambda user: user != "admin")


@contextmanager
def _holding(admission: Admission, user: str, count: int) -> Iterator[None]:
    with ExitStack() as stack:
        for _ in range(count):
            stack.enter_context(admission.slot(user))
        yield


def _starts(admission: Admission, user: str) -> tuple[threading.Thread, threading.Event]:
    """A statement of `user` waiting for its slot in a thread; the event is set once it runs."""
    running = threading.Event()
    release = threading.Event()

    def run() -> None:
        with admission.slot(user):
            running.set()
            release.wait(10)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.release = release  # type: ignore[attr-defined]
    return thread, running


def test_shares_on_sixteen_connections() -> None:
    admission = _admission(16)
    assert (admission.per_owner, admission.owners_total, admission.reserved_for_admins) == (
        4,
        12,
        4,
    )
    small = _admission(2)
    assert (small.per_owner, small.owners_total) == (1, 1)


def test_an_owner_beyond_their_share_waits_until_one_of_theirs_ends() -> None:
    admission = _admission(16)
    with _holding(admission, "alice", 4):
        thread, running = _starts(admission, "alice")
        assert not running.wait(0.2)
        assert admission.running("alice") == 4
    assert running.wait(5)  # one of the four ended: the fifth runs
    thread.release.set()  # type: ignore[attr-defined]
    thread.join(5)


def test_another_owner_is_not_held_behind_a_waiting_one() -> None:
    admission = _admission(16)
    with _holding(admission, "alice", 4):
        alice, alice_running = _starts(admission, "alice")
        bob, bob_running = _starts(admission, "bob")
        assert bob_running.wait(5)
        assert not alice_running.is_set()
        bob.release.set()  # type: ignore[attr-defined]
    assert alice_running.wait(5)
    alice.release.set()  # type: ignore[attr-defined]
    for thread in (alice, bob):
        thread.join(5)


def test_owners_together_leave_the_admins_their_quarter() -> None:
    admission = _admission(16)
    owners = [f"owner{index}" for index in range(3)]
    with ExitStack() as stack:
        for owner in owners:
            stack.enter_context(_holding(admission, owner, 4))
        late, late_running = _starts(admission, "owner9")
        assert not late_running.wait(0.2)  # twelve owner statements: the owners' limit
        with _holding(admission, "admin", 50):  # admins are never queued
            pass
    assert late_running.wait(5)
    late.release.set()  # type: ignore[attr-defined]
    late.join(5)
