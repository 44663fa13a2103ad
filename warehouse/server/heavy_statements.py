"""Statements that scan take turns, one more than there are cores; the rest start at once.

With one engine connection per statement (config.py), a small query starts at once beside
slow ones. Without more, 30 dashboard clients' scans would also all start at once and
share the cores: each takes many times longer, and the slowest take longest of all (the
warehouse benchmark's 30-client p99 grew from 776 to 1,369 ms going from 2 connections to
16). ClickHouse bounds the same thing with `concurrent_threads_soft_limit`. Here the
bound is per statement, from what the same statement (same text, same database) did the
last time it finished:

- LIGHT: it read fewer than SCAN_ROWS rows (`SELECT 1`, health checks, `sleep()`, a
  lookup of a few rows), or it has not run yet. It starts at once.
- SCAN: it read at least SCAN_ROWS rows. At most `slots` scans run at once (default: one
  more than the cores, see default_slots); the others wait in turn, before they take a
  connection. SCAN_ROWS is 1,000: a dashboard query that reads a few thousand rows of a
  serving table still costs 10-30 ms of a core, and letting those past the queue made the
  scans behind it wait longer (the 30-client p99 was 878-1,039 ms with 10,000 rows and
  4 lanes, 531-553 with 1,000 and 3 lanes; 2 connections and no lanes gave 549-573).
  Under a load of many scans, everyone waits about as long, so the tail stays short.
- LONG_SCAN: a scan that ran LONG_SECONDS or more (someone exploring a large table). At
  most `slots - 1` of them run at once (at least 1), so one lane always serves the
  screens' ordinary scans, and two explorers cannot freeze the wall.

A scan holds its turn until its result is sent, so a client reading a large result slowly
keeps one lane busy; that is the price of bounded memory (results are streamed). A failed
or cancelled run leaves the statement's weight as it was.
"""

from __future__ import annotations

import enum
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Hashable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

SCAN_ROWS = 1_000
LONG_SECONDS = 1.0
REMEMBERED = 4096  # statements whose last weight is kept (least recently run forgotten first)


class Weight(enum.Enum):
    """How much of the engine a statement took last time (see the module doc)."""

    LIGHT = "light"
    SCAN = "scan"
    LONG_SCAN = "long scan"


def default_slots() -> int:
    """One scan per core and one more: a scan alone does not keep its core busy all the
    time, and the extra lane overlaps those waits. Measured on 2 cores (warehouse_bench's
    30 clients in the engine, warm, p50/p99 ms): 2 lanes 468/621 and 491/667, 3 lanes
    372/531 and 402/553, 4 lanes 438/662 and 379/591; more lanes share the cores among
    more scans at once, so each one, and the slowest most, takes longer."""
    return max(1, os.cpu_count() or 1) + 1


@dataclass
class Cost:
    """What a statement cost when it ran; fill in before leaving `HeavyStatements.turn`."""

    read_rows: int = 0
    seconds: float = 0.0

    @property
    def weight(self) -> Weight:
        if self.read_rows < SCAN_ROWS:
            return Weight.LIGHT
        return Weight.LONG_SCAN if self.seconds >= LONG_SECONDS else Weight.SCAN


class _Lane:
    """A counting semaphore that serves its waiters first come, first served."""

    def __init__(self, size: int, turn: threading.Condition) -> None:
        self.size = size
        self.running = 0
        self._queue: deque[object] = deque()
        self._turn = turn

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @contextmanager
    def held(self) -> Iterator[None]:
        ticket = object()
        with self._turn:
            self._queue.append(ticket)
            self._turn.wait_for(lambda: self._queue[0] is ticket and self.running < self.size)
            self._queue.popleft()
            self.running += 1
            self._turn.notify_all()  # the next in line may start too
        try:
            yield
        finally:
            with self._turn:
                self.running -= 1
                self._turn.notify_all()


class HeavyStatements:
    """Remembers each statement's last weight and lets scans take turns."""

    def __init__(self, slots: int | None = None) -> None:
        self.slots = slots if slots is not None else default_slots()
        if self.slots < 1:
            raise ValueError(f"slots must be at least 1, not {self.slots}")
        self._turn = threading.Condition()
        self._scans = _Lane(self.slots, self._turn)
        self._long_scans = _Lane(max(1, self.slots - 1), self._turn)
        self._weights: OrderedDict[Hashable, Weight] = OrderedDict()

    @contextmanager
    def turn(self, key: Hashable) -> Iterator[Cost]:
        """Run the enclosed statement once its weight allows; record what it cost."""
        weight = self.weight(key)
        cost = Cost()
        with ExitStack() as lanes:
            if weight is Weight.LONG_SCAN:  # the long lane first: it never holds a scan turn
                lanes.enter_context(self._long_scans.held())
            if weight is not Weight.LIGHT:
                lanes.enter_context(self._scans.held())
            yield cost
        self._remember(key, cost.weight)  # not reached when the statement failed

    def weight(self, key: Hashable) -> Weight:
        """How the statement will be treated next time."""
        with self._turn:
            return self._weights.get(key, Weight.LIGHT)

    def running(self) -> int:
        """Scans running now (long ones included)."""
        with self._turn:
            return self._scans.running

    def waiting(self) -> int:
        """Scans waiting for their turn now."""
        with self._turn:
            return self._scans.waiting + self._long_scans.waiting

    def _remember(self, key: Hashable, weight: Weight) -> None:
        with self._turn:
            self._weights[key] = weight
            self._weights.move_to_end(key)
            while len(self._weights) > REMEMBERED:
                self._weights.popitem(last=False)
