"""Per-app call budget shared by every stream of one merchant: proactive, with priorities.

Jushuitan quotas are per app across all APIs (5 requests/second, 100/minute; codes 199
and 200), so one :class:`QuotaBudget` must be shared by every client of the same
``app_key`` in a process. It is *proactive*: a call waits in :meth:`QuotaBudget.slot`
until it fits a sliding one-second and one-minute window, so steady state never trips
the server's limit. Windows are measured conservatively: a finished call counts from
when its response arrived (the server stamped it at some point before that), a call in
flight counts as "now", so latency jitter cannot squeeze six calls into the server's
second.

Priorities: ``HOT`` streams (outbound, refund, after-sale received: the big screens'
freshness) may use the whole budget and go first whenever both wait. ``COLD`` streams
(inventory scans, SKU, shop, warehouse) use what is left, but leave ``hot_reserved_share``
of the minute free for hot bursts; a ``cold_reserved_share`` of the minute is theirs even
when hot streams are busy, so a cold stream is never starved.

The server can still refuse (other processes on the same app, a storm): the client then
calls :meth:`QuotaBudget.note_throttled`, which holds every caller back and is counted so
that the runner can degrade to coarser polling.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from common.settings import JushuitanSettings
from connectors.errors import SyncStoppedError


class Priority(StrEnum):
    HOT = "hot"
    COLD = "cold"


@dataclass
class _Call:
    started: float
    label: str
    priority: Priority
    finished: float | None = None  # None while in flight

    def stamp(self, now: float) -> float:
        return self.finished if self.finished is not None else now


class QuotaBudget:
    """Blocks in :meth:`slot` / :meth:`acquire` until one more call fits the limits."""

    def __init__(
        self,
        min_interval_seconds: float = 0.26,
        requests_per_second: int = 5,
        requests_per_minute: int = 100,
        *,
        safety_margin_seconds: float = 0.05,
        hot_reserved_share: float = 0.2,
        cold_reserved_share: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ):
        self.safety_margin_seconds = safety_margin_seconds
        self.min_interval_seconds = max(0.0, min_interval_seconds)
        self.requests_per_second = requests_per_second
        self.requests_per_minute = requests_per_minute
        self.hot_reserve = int(round(requests_per_minute * hot_reserved_share))
        self.cold_reserve = int(round(requests_per_minute * cold_reserved_share))
        self._clock = clock
        self._sleep = sleep  # None: real waits on the condition (woken when a slot frees)
        self._condition = threading.Condition()
        self._calls: deque[_Call] = deque()
        self._not_before = 0.0
        self._hot_waiting = 0
        self._interrupted = False
        self.throttled_count = 0
        self.throttle_times: deque[float] = deque(maxlen=1000)
        self.total_calls = 0
        self.total_waited_seconds = 0.0

    @classmethod
    def from_settings(cls, settings: JushuitanSettings) -> QuotaBudget:
        return cls(
            settings.min_call_interval_seconds,
            settings.requests_per_second,
            settings.requests_per_minute,
        )

    @classmethod
    def unlimited(cls) -> QuotaBudget:
        return cls(0.0, 0, 0, safety_margin_seconds=0.0)

    # -- admission ------------------------------------------------------------------------

    def _prune(self, now: float) -> None:
        horizon = 60.0 + self.safety_margin_seconds
        while self._calls and now - self._calls[0].stamp(now) >= horizon:
            self._calls.popleft()

    def seconds_until_allowed(self, priority: Priority = Priority.HOT) -> float:
        """How long a call of ``priority`` would have to wait now (0: it may go)."""
        with self._condition:
            now = self._clock()
            self._prune(now)
            return self._wait_needed(now, priority)

    def _wait_needed(self, now: float, priority: Priority) -> float:
        second = 1.0 + self.safety_margin_seconds
        minute = 60.0 + self.safety_margin_seconds
        wait = max(0.0, self._not_before - now)
        if self._calls:
            last_start = max(call.started for call in self._calls)
            wait = max(wait, last_start + self.min_interval_seconds - now)
        stamps = sorted(call.stamp(now) for call in self._calls)
        if self.requests_per_second > 0:
            recent = [t for t in stamps if now - t < second]
            if len(recent) >= self.requests_per_second:
                wait = max(wait, recent[-self.requests_per_second] + second - now)
        if self.requests_per_minute > 0 and len(stamps) >= self.requests_per_minute:
            wait = max(wait, stamps[-self.requests_per_minute] + minute - now)
        if priority is Priority.COLD:
            wait = max(wait, self._cold_wait(now, stamps, minute))
        return wait

    def _cold_wait(self, now: float, stamps: list[float], minute: float) -> float:
        cold_used = sum(1 for call in self._calls if call.priority is Priority.COLD)
        if cold_used < self.cold_reserve:
            return 0.0  # the reserved share: cold goes like hot
        if self._hot_waiting:
            return 0.05  # hot first; woken when the hot call has gone
        if self.requests_per_minute <= 0:
            return 0.0
        cold_limit = max(1, self.requests_per_minute - self.hot_reserve)
        if len(stamps) < cold_limit:
            return 0.0
        return stamps[-cold_limit] + minute - now

    def _pause(self, seconds: float) -> None:
        if self._sleep is None:
            self._condition.wait(timeout=seconds)
            return
        self._condition.release()  # simulated clock: sleep without holding the lock
        try:
            self._sleep(seconds)
        finally:
            self._condition.acquire()

    def _admit(self, priority: Priority, label: str) -> tuple[_Call, float]:
        waited = 0.0
        with self._condition:
            if priority is Priority.HOT:
                self._hot_waiting += 1
            try:
                while True:
                    if self._interrupted:
                        raise SyncStoppedError("stopping: quota wait interrupted")
                    now = self._clock()
                    self._prune(now)
                    wait = self._wait_needed(now, priority)
                    if wait <= 0:
                        call = _Call(now, label, priority)
                        self._calls.append(call)
                        self.total_calls += 1
                        self.total_waited_seconds += waited
                        return call, waited
                    self._pause(wait)
                    waited += wait
            finally:
                if priority is Priority.HOT:
                    self._hot_waiting -= 1
                self._condition.notify_all()

    def interrupt(self) -> None:
        """Wake every waiting caller with :class:`SyncStoppedError` (shutdown)."""
        with self._condition:
            self._interrupted = True
            self._condition.notify_all()

    def _finish(self, call: _Call) -> None:
        with self._condition:
            call.finished = self._clock()
            self._condition.notify_all()

    @contextmanager
    def slot(self, priority: Priority = Priority.HOT, label: str = "") -> Iterator[float]:
        """Wait for a slot, run the call inside the block; yields the seconds waited."""
        call, waited = self._admit(priority, label)
        try:
            yield waited
        finally:
            self._finish(call)

    def acquire(self, priority: Priority = Priority.HOT, label: str = "") -> float:
        """Take a slot stamped now (no completion time); returns the seconds waited."""
        call, waited = self._admit(priority, label)
        self._finish(call)
        return waited

    # -- server feedback and reporting --------------------------------------------------------

    def note_throttled(self, retry_after_seconds: float) -> None:
        """The server refused a call for quota: hold every caller back for a while."""
        with self._condition:
            now = self._clock()
            self.throttled_count += 1
            self.throttle_times.append(now)
            self._not_before = max(self._not_before, now + retry_after_seconds)

    def last_throttled_at(self) -> float | None:
        with self._condition:
            return self.throttle_times[-1] if self.throttle_times else None

    def now(self) -> float:
        return self._clock()

    def usage(self) -> dict[str, Any]:
        """Calls in the last minute (total, by priority, by label) and throttling counts."""
        with self._condition:
            now = self._clock()
            recent = [call for call in self._calls if now - call.started < 60.0]
            return {
                "calls_last_minute": len(recent),
                "by_priority": dict(Counter(str(call.priority) for call in recent)),
                "by_stream": dict(Counter(call.label for call in recent if call.label)),
                "throttled_total": self.throttled_count,
                "throttled_last_minute": sum(1 for t in self.throttle_times if now - t < 60.0),
                "calls_total": self.total_calls,
                "limits": {
                    "per_second": self.requests_per_second,
                    "per_minute": self.requests_per_minute,
                    "hot_reserve": self.hot_reserve,
                    "cold_reserve": self.cold_reserve,
                },
            }
