"""A fixed set of engine connections, each lent to one request at a time.

chDB serialises the statements of one connection, but runs statements of different
connections to the same data path in parallel; lending each request its own connection is
what lets concurrent dashboard reads overlap. The pool is generic so that it can be tested
without an engine. `InFlightGauge` counts statements running inside the engine at once,
so overlap is observable (tests, operators) without reading wall clocks.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

from warehouse.server.errors import ClickHouseError

Pooled = TypeVar("Pooled")


def shutting_down() -> ClickHouseError:
    """The error a request gets once the server has begun closing the engine."""
    return ClickHouseError(210, "NETWORK_ERROR", "Server is shutting down")


@dataclass(frozen=True)
class InFlightReading:
    """Statements inside the engine now, the most seen at once, and the total run."""

    in_flight: int
    peak_in_flight: int
    statements: int


class InFlightGauge:
    """Thread-safe count of engine statements running right now, with its high-water mark."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._peak = 0
        self._statements = 0

    @contextmanager
    def running(self) -> Iterator[None]:
        """Count the enclosed engine call as in flight."""
        with self._lock:
            self._in_flight += 1
            self._statements += 1
            self._peak = max(self._peak, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def reading(self) -> InFlightReading:
        """A consistent snapshot of the counters."""
        with self._lock:
            return InFlightReading(self._in_flight, self._peak, self._statements)

    def reset_peak(self) -> None:
        """Start a new high-water mark from the current count (e.g. before a measurement)."""
        with self._lock:
            self._peak = self._in_flight


class _Waiter(Generic[Pooled]):
    """A borrower queued for a connection; `connection` stays None if the pool closes first."""

    def __init__(self) -> None:
        self.handed_over = threading.Event()
        self.connection: Pooled | None = None


class ConnectionPool(Generic[Pooled]):
    """Lends each borrower one connection; queues borrowers fairly; closes all at the end.

    While a connection is idle, a borrower gets the most recently returned one, preferring
    one for which its `prefer` test holds (a connection already in the state it needs).
    Once all are lent, borrowers queue and each returned connection goes straight to the
    longest-waiting one: without that hand-over, whichever thread woke first would win and
    a request could starve behind thirty newer ones.
    """

    def __init__(self, connections: Sequence[Pooled]) -> None:
        if not connections:
            raise ValueError("a connection pool needs at least one connection")
        self._all = list(connections)
        self._idle = list(connections)
        self._waiters: deque[_Waiter[Pooled]] = deque()
        self._lock = threading.Lock()
        self._all_idle = threading.Condition(self._lock)
        self._closed = False

    @property
    def size(self) -> int:
        """How many connections the pool holds."""
        return len(self._all)

    @property
    def idle(self) -> int:
        """How many connections are not lent right now."""
        with self._lock:
            return len(self._idle)

    @property
    def waiting(self) -> int:
        """How many borrowers are queued for a connection."""
        with self._lock:
            return len(self._waiters)

    @property
    def closed(self) -> bool:
        """Whether close() has begun."""
        return self._closed

    @contextmanager
    def borrow(self, prefer: Callable[[Pooled], bool] | None = None) -> Iterator[Pooled]:
        """Hold one connection for the enclosed block; raise `shutting_down()` once closed."""
        connection = self._acquire(prefer)
        try:
            yield connection
        finally:
            self._release(connection)

    def close(self, close_one: Callable[[Pooled], None]) -> None:
        """Refuse new and queued borrowers, wait for lent connections, close each (idempotent).

        Waiting lets the statements already running finish, as a server stop should.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            while self._waiters:
                self._waiters.popleft().handed_over.set()
            while len(self._idle) < len(self._all):
                self._all_idle.wait()
        for connection in self._all:
            close_one(connection)

    def _acquire(self, prefer: Callable[[Pooled], bool] | None) -> Pooled:
        with self._lock:
            if self._closed:
                raise shutting_down()
            if self._idle and not self._waiters:
                return self._take_idle_locked(prefer)
            waiter: _Waiter[Pooled] = _Waiter()
            self._waiters.append(waiter)
        waiter.handed_over.wait()
        if waiter.connection is None:
            raise shutting_down()
        return waiter.connection

    def _release(self, connection: Pooled) -> None:
        with self._lock:
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.connection = connection
                waiter.handed_over.set()
                return
            self._idle.append(connection)
            if len(self._idle) == len(self._all):
                self._all_idle.notify_all()

    def _take_idle_locked(self, prefer: Callable[[Pooled], bool] | None) -> Pooled:
        if prefer is not None:
            for index in range(len(self._idle) - 1, -1, -1):
                if prefer(self._idle[index]):
                    return self._idle.pop(index)
        return self._idle.pop()
