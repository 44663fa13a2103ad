"""The small SQLite files the alert and push services keep their state in."""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class StateFile:
    """One SQLite file, its schema created on first use; :meth:`transaction` opens a
    connection per use (services' threads share nothing) and commits or rolls back."""

    def __init__(self, path: Path, schema: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self.transaction() as db:
            db.executescript(schema)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:  # one transaction: committed on success, rolled back on error
                yield db
        finally:
            db.close()


@contextmanager
def exclusive(lock_file: Path, what: str) -> Iterator[None]:
    """Held while a service runs: a second one (another process, or a `--once` beside the
    running service) refuses to start instead of sending everything twice. The kernel
    releases it when the holder dies, even by SIGKILL."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(f"another {what} is running (it holds {lock_file})") from None
        yield
