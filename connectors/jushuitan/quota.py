"""Per-app call pacing shared by every stream of one merchant.

Jushuitan quotas are per app across all APIs (5 requests/second, 100/minute), so one
:class:`QuotaBudget` must be shared by every client of the same ``app_key`` in a
process. Today it enforces a minimum interval plus sliding one-second and one-minute
windows, and lets the client push the next slot back when the server says "slow down".
A fuller budget (shared across processes, adaptive) can replace it behind ``acquire``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from common.settings import JushuitanSettings


class QuotaBudget:
    """Blocks in :meth:`acquire` until one more call fits the configured limits."""

    def __init__(
        self,
        min_interval_seconds: float = 0.26,
        requests_per_second: int = 5,
        requests_per_minute: int = 100,
        *,
        safety_margin_seconds: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        # The server stamps calls on arrival, not when we send them: widen windows a bit.
        self.safety_margin_seconds = safety_margin_seconds
        self.min_interval_seconds = max(0.0, min_interval_seconds)
        self.requests_per_second = requests_per_second
        self.requests_per_minute = requests_per_minute
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._calls: deque[float] = deque()
        self._not_before = 0.0
        self.throttled_count = 0

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

    def _wait_needed(self, now: float) -> float:
        while self._calls and now - self._calls[0] >= 60.0 + self.safety_margin_seconds:
            self._calls.popleft()
        wait = max(0.0, self._not_before - now)
        if self._calls:
            wait = max(wait, self._calls[-1] + self.min_interval_seconds - now)
        if self.requests_per_second > 0:
            recent = [t for t in self._calls if now - t < 1.0 + self.safety_margin_seconds]
            if len(recent) >= self.requests_per_second:
                second = 1.0 + self.safety_margin_seconds
                wait = max(wait, recent[-self.requests_per_second] + second - now)
        if self.requests_per_minute > 0 and len(self._calls) >= self.requests_per_minute:
            minute = 60.0 + self.safety_margin_seconds
            wait = max(wait, self._calls[-self.requests_per_minute] + minute - now)
        return wait

    def acquire(self) -> float:
        """Wait for a slot and record the call; returns the seconds spent waiting."""
        waited = 0.0
        with self._lock:
            while True:
                now = self._clock()
                wait = self._wait_needed(now)
                if wait <= 0:
                    self._calls.append(now)
                    return waited
                self._sleep(wait)
                waited += wait

    def note_throttled(self, retry_after_seconds: float) -> None:
        """The server refused a call for quota: hold every caller back for a while."""
        with self._lock:
            self.throttled_count += 1
            self._not_before = max(self._not_before, self._clock() + retry_after_seconds)
