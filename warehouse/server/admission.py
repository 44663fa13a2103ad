"""How many statements each login may run at once, and the limits a shop owner's reads get.

The engine runs up to `pool_size` statements at once (one per engine connection). Admins
(the stack's own services, the operator) may use all of them. Shop owners are read-only
logins from outside, and one of them exploring a large table must not take the engine
from the wall screens and the pipeline: each owner runs at most `per_owner` statements at
once, all owners together at most `pool_size - reserved_for_admins`; more wait their turn,
in order. This is ClickHouse's max_concurrent_queries_for_user, queued instead of refused,
because a dashboard fires several chart queries at once and all of them should answer.

Every statement of a shop owner also runs under OWNER_LIMITS (ClickHouse's settings
profile of a read-only user). They are pinned in row_policy.py, so an owner cannot lift
them with a URL setting or a SETTINGS clause.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# A shop owner's statement stops after a minute and at 4 GiB of memory: ClickHouse's own
# TIMEOUT_EXCEEDED (159) and MEMORY_LIMIT_EXCEEDED (241) answers, not a stuck engine.
OWNER_LIMITS = {"max_execution_time": "60", "max_memory_usage": str(4 << 30)}


class Admission:
    """Counts running statements per login and queues shop owners beyond their share."""

    def __init__(self, pool_size: int, restricted: Callable[[str], bool]) -> None:
        self._restricted = restricted
        self.reserved_for_admins = max(2, pool_size // 4)
        self.per_owner = max(1, pool_size // 4)
        self.owners_total = max(1, pool_size - self.reserved_for_admins)
        self._running: Counter[str] = Counter()
        self._owners_running = 0
        self._turn = threading.Condition()
        self._queue: list[tuple[object, str]] = []

    @contextmanager
    def slot(self, user: str) -> Iterator[None]:
        """Hold one of `user`'s statement slots for the enclosed block (admins: no limit)."""
        if not self._restricted(user):
            yield
            return
        ticket = object()
        with self._turn:
            self._queue.append((ticket, user))
            while not self._may_start(ticket):
                self._turn.wait()
            self._queue.remove((ticket, user))
            self._running[user] += 1
            self._owners_running += 1
            self._turn.notify_all()
        try:
            yield
        finally:
            with self._turn:
                self._running[user] -= 1
                self._owners_running -= 1
                self._turn.notify_all()

    def running(self, user: str) -> int:
        """Statements `user` runs right now."""
        with self._turn:
            return self._running[user]

    def _may_start(self, ticket: object) -> bool:
        """First come, first served among the waiters whose own share is not used up."""
        if self._owners_running >= self.owners_total:
            return False
        for waiting, waiting_user in self._queue:
            if self._running[waiting_user] < self.per_owner:
                return waiting is ticket
        return False
