"""The calls of one app key in the last minute: in this process, or in every process here.

Jushuitan counts its quota per app across all APIs and all callers, so ``erpbi sync``, a
backfill and a manual run on one machine must see each other's calls. :class:`SharedLedger`
keeps them in a small JSON file (one per API base URL + app key) in a machine-wide folder,
read and rewritten under an exclusive ``flock``: admission is check-and-append in one
critical section, so two processes can never both take the last slot.

Why a file under ``flock`` and not a budget service or shared memory: nothing has to be
running first (no daemon to start, supervise or find), a crashed process leaves nothing
locked (the kernel drops its lock), and the file is a few kilobytes of JSON an operator
can read. The cost is two short critical sections per call (admit, finish), well under a
millisecond, against a quota of 5 calls a second. ``pyrate-limiter`` has file and SQLite
buckets but counts a call when it is admitted; the budget must count a finished call
from its answer and a call in flight as "now" (see :mod:`connectors.jushuitan.quota`),
and share the server's "hold back" hint, so the ledger is ours.

Times are ``time.monotonic()``, which on Linux is one clock for every process of the
machine within one boot; the file names its boot and is started anew after a reboot. A
call left in flight by a killed process counts as "now" until it is
``in_flight_limit_seconds`` old, then it is dropped. Unreadable content is replaced at
once (held back one window, in case it listed calls).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

WINDOW_SECONDS = 60.0
MAX_HOLD_SECONDS = 300.0  # no server hint holds every caller back longer


def _boot_id() -> str:
    """This boot of the machine: the ledger's monotonic times are valid within it only."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return "unknown"


BOOT_ID = _boot_id()


@dataclass
class CallEntry:
    id: str
    started: float
    finished: float | None = None  # None while in flight
    background: bool = False  # a backfill's or a reconciliation's call

    def stamp(self, now: float) -> float:
        return self.finished if self.finished is not None else now


@dataclass
class WindowState:
    """What admission decides on: recent calls and the server's "not before" hint."""

    entries: list[CallEntry] = field(default_factory=list)
    not_before: float = 0.0
    # Until when a background caller (backfill, reconciliation) wants its share: the
    # live budgets then leave it that many calls a minute (see QuotaBudget).
    background_until: float = 0.0
    background_share: int = 0

    def prune(self, now: float, horizon: float, in_flight_limit: float) -> None:
        self.entries = [
            entry
            for entry in self.entries
            if now - entry.stamp(now) < horizon
            and (entry.finished is not None or now - entry.started < in_flight_limit)
        ]

    def finish(self, entry_id: str, now: float) -> None:
        for entry in self.entries:
            if entry.id == entry_id:
                entry.finished = now
                return


class CallWindow(Protocol):
    shared: bool

    def open(self) -> Any:
        """A context manager yielding the :class:`WindowState` to read and change."""


class LocalWindow:
    """This process's calls only (tests on a simulated clock, an unshared budget)."""

    shared = False

    def __init__(self) -> None:
        self.state = WindowState()

    @contextmanager
    def open(self) -> Iterator[WindowState]:
        yield self.state


def ledger_path(directory: Path, base_url: str, app_key: str) -> Path:
    """One file per server and app key; the key is hashed, not written in the name."""
    digest = hashlib.sha256(f"{base_url.rstrip('/')}|{app_key}".encode()).hexdigest()[:16]
    return directory / f"quota-{digest}.json"


def default_ledger_directory() -> Path:
    return Path(tempfile.gettempdir()) / "erpbi-quota"


class SharedLedger:
    """Every process's calls for one app key, in ``path`` (rewritten under ``flock``)."""

    shared = True

    def __init__(self, path: Path):
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)

    @contextmanager
    def open(self) -> Iterator[WindowState]:
        with self.lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state, before = self._read()
                yield state
                after = self._encode(state)
                if after != before:
                    self._write(after)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> tuple[WindowState, str]:
        """The state, and the text it was read from ("" when it must be written anew)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return WindowState(), ""
        try:
            data = json.loads(text)
            if data.get("boot") != BOOT_ID:
                return WindowState(), ""  # monotonic times of an earlier boot mean nothing now
            state = WindowState(
                [CallEntry(str(e[0]), float(e[1]), None if e[2] is None else float(e[2]),
                           bool(e[3]) if len(e) > 3 else False)
                 for e in data.get("calls", [])],
                float(data.get("not_before", 0.0)),
                float(data.get("background_until", 0.0)),
                int(data.get("background_share", 0)),
            )  # fmt: skip
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            # Foreign content (writes replace the file whole, so never torn): start over,
            # held back one window so that calls it may have listed cannot be overdrawn.
            return WindowState(not_before=time.monotonic() + WINDOW_SECONDS), ""
        now = time.monotonic()  # nothing of this boot can lie ahead: cap what does
        state.entries = [entry for entry in state.entries if entry.started <= now + 1.0]
        state.not_before = min(state.not_before, now + MAX_HOLD_SECONDS)
        return state, text

    @staticmethod
    def _encode(state: WindowState) -> str:
        calls = [
            [entry.id, entry.started, entry.finished, *([1] if entry.background else [])]
            for entry in state.entries
        ]
        document: dict[str, Any] = {"boot": BOOT_ID, "calls": calls, "not_before": state.not_before}
        if state.background_share:
            document |= {"background_until": state.background_until,
                         "background_share": state.background_share}  # fmt: skip
        return json.dumps(document, separators=(",", ":"))

    def _write(self, text: str) -> None:
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, self.path)
