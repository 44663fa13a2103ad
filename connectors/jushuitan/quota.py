"""Per-app call budget: proactive, by urgency, and shared by every process of the machine.

Jushuitan quotas are per app across all APIs (5 requests/second, 100/minute; codes 199
and 200). A call waits in :meth:`QuotaBudget.slot` until it fits a sliding one-second and
one-minute window, so steady state never trips the server's limit. Windows are measured
conservatively: a finished call counts from when its response arrived (the server stamped
it at some point before that), a call in flight counts as "now", so latency jitter cannot
squeeze six calls into the server's second.

With a :class:`~connectors.jushuitan.ledger.SharedLedger` (the default, see
``jushuitan.share_quota``) the windows hold the calls of every process using the same
app key on this machine, so ``erpbi sync``, a backfill and a manual run together stay
inside the quota. Within a process, when several calls wait, the most urgent goes first
(:class:`~connectors.urgency.Urgency`: a caught-up stream's poll for news, then backlog
pages of dimensions, inventory, documents); a waiter gains one urgency level per
``aging_seconds`` waited, so no backlog starves. A live target's call waits from when
the target was last known complete (``since``), so the stalest live target goes first.
Between processes the first to find a free slot takes it.

A background budget (``background_share`` > 0: a backfill, a reconciliation) takes at
most that many calls a minute while live calls are in the window (all of the quota
when there are none), and while it wants them (its mark in the window, renewed
as it waits) every live budget keeps its own calls below ``requests_per_minute`` minus
that share: the live streams have the whole quota when nothing runs in the background,
and the background work a steady share when it does, together never more than the quota.

The server can still refuse (another machine on the same app key, a storm): the client
then calls :meth:`QuotaBudget.note_throttled`, which holds every caller of every process
back and is counted so that the runner can degrade to coarser polling.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from common.settings import JushuitanSettings
from connectors.errors import SyncStoppedError
from connectors.jushuitan.ledger import (
    WINDOW_SECONDS,
    CallEntry,
    CallWindow,
    LocalWindow,
    SharedLedger,
    WindowState,
    default_ledger_directory,
    ledger_path,
)
from connectors.urgency import Urgency

SHARED_RECHECK_SECONDS = 0.5  # another process may free a slot without waking us
BACKGROUND_MARK_SECONDS = 5.0  # a background budget's share lapses this long after it waited
# A saturated sliding window repeats its last minute: 100 calls in the first 20 s (5 a
# second), then 40 s in which nobody may call, every minute, and a screen's stream waits
# out that gap. So calls are also paced as a GCRA (the generic cell rate algorithm, a
# token bucket kept as one "theoretical arrival time"): at most BURST_CALLS back to back,
# then evenly, so that a burst and a minute of even calls fit the window together (96 a
# minute at 100/minute: the window never fills, so it never stalls). The minute window
# stays as the hard limit.
BURST_CALLS = 5


@dataclass
class _Call:
    entry_id: str
    started: float
    label: str
    urgency: Urgency


@dataclass
class Waiter:
    urgency: Urgency
    since: float


def first_in_line(waiters: dict[int, Waiter], now: float, aging_seconds: float) -> int:
    """The ticket to go next: most urgent once aged (one level per ``aging_seconds``
    waited), the earliest ticket among equals."""

    def rank(ticket: int) -> tuple[float, int]:
        waiter = waiters[ticket]
        aged = (now - waiter.since) / aging_seconds if aging_seconds > 0 else 0.0
        return float(waiter.urgency) - aged, ticket

    return min(waiters, key=rank)


class QuotaBudget:
    """Blocks in :meth:`slot` / :meth:`acquire` until one more call fits the limits."""

    def __init__(
        self,
        min_interval_seconds: float = 0.26,
        requests_per_second: int = 5,
        requests_per_minute: int = 100,
        *,
        safety_margin_seconds: float = 0.05,
        aging_seconds: float = 10.0,
        in_flight_limit_seconds: float = 120.0,
        burst_calls: int = BURST_CALLS,
        background_share: int = 0,
        window: CallWindow | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ):
        self.safety_margin_seconds = safety_margin_seconds
        self.min_interval_seconds = max(0.0, min_interval_seconds)
        self.requests_per_second = requests_per_second
        self.requests_per_minute = requests_per_minute
        self.aging_seconds = aging_seconds
        self.in_flight_limit_seconds = in_flight_limit_seconds
        self.burst_calls = max(1, burst_calls)
        self.background_share = max(0, background_share)
        self.window: CallWindow = window if window is not None else LocalWindow()
        self._clock = clock
        self._sleep = sleep  # None: real waits on the condition (woken when a slot frees)
        self._condition = threading.Condition()
        self._recent: deque[_Call] = deque()  # this process's calls, for usage()
        self._waiters: dict[int, Waiter] = {}
        self._tickets = itertools.count()
        self._ids = itertools.count()
        self._budget_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"  # unique in the ledger
        self._interrupted = False
        self.throttled_count = 0
        self.throttle_times: deque[float] = deque(maxlen=1000)
        self.total_calls = 0
        self.total_waited_seconds = 0.0

    @classmethod
    def from_settings(
        cls, settings: JushuitanSettings, *, background_share: int = 0
    ) -> QuotaBudget:
        """``background_share`` > 0: a background budget (backfill, reconciliation) taking
        at most that many calls a minute, which the live budgets leave it meanwhile."""
        window: CallWindow | None = None
        if settings.share_quota:
            directory = settings.quota_ledger_dir or default_ledger_directory()
            window = SharedLedger(ledger_path(directory, settings.base_url, settings.app_key))
        share = min(background_share, max(1, settings.requests_per_minute - 1))
        return cls(
            settings.min_call_interval_seconds,
            settings.requests_per_second,
            settings.requests_per_minute,
            background_share=share if settings.requests_per_minute > 0 else 0,
            window=window,
        )

    @classmethod
    def unlimited(cls) -> QuotaBudget:
        return cls(0.0, 0, 0, safety_margin_seconds=0.0)

    # -- admission ------------------------------------------------------------------------

    def _prune(self, state: WindowState, now: float) -> None:
        state.prune(now, WINDOW_SECONDS + self.safety_margin_seconds, self.in_flight_limit_seconds)

    def seconds_until_allowed(self) -> float:
        """How long a call would have to wait for the limits now (0: it may go)."""
        with self._condition, self.window.open() as state:
            now = self._clock()
            self._prune(state, now)
            self._mark_wanted(now, state)
            return self._wait_needed(now, state)

    def _mark_wanted(self, now: float, state: WindowState) -> None:
        """A background budget asking: the live budgets leave its share for a while."""
        if self.background_share:
            state.background_until = now + BACKGROUND_MARK_SECONDS
            state.background_share = self.background_share

    def _wait_needed(self, now: float, state: WindowState) -> float:
        second = 1.0 + self.safety_margin_seconds
        minute = WINDOW_SECONDS + self.safety_margin_seconds
        wait = max(0.0, state.not_before - now)
        if not state.entries:
            return wait
        last_start = max(entry.started for entry in state.entries)
        wait = max(wait, last_start + self.min_interval_seconds - now)
        stamps = sorted(entry.stamp(now) for entry in state.entries)
        if self.requests_per_second > 0:
            recent = [t for t in stamps if now - t < second]
            if len(recent) >= self.requests_per_second:
                wait = max(wait, recent[-self.requests_per_second] + second - now)
        if self.requests_per_minute > 0 and len(stamps) >= self.requests_per_minute:
            wait = max(wait, stamps[-self.requests_per_minute] + minute - now)
        wait = max(wait, self._share_wait(now, state, minute))
        if self.requests_per_minute > 0:
            wait = max(wait, self._paced_start(state) - now)
        return wait

    def _share_wait(self, now: float, state: WindowState, minute: float) -> float:
        """The wait for this budget's side of the background share (0 when none)."""
        if self.requests_per_minute <= 0:
            return 0.0
        if self.background_share:  # a background budget: its own calls, up to its share
            if all(entry.background for entry in state.entries):
                return 0.0  # no live call in the last minute: the whole quota
            limit = self.background_share
        elif now < state.background_until:  # live, with a background caller waiting
            limit = max(1, self.requests_per_minute - state.background_share)
        else:
            return 0.0
        mine = sorted(
            e.stamp(now) for e in state.entries if e.background == bool(self.background_share)
        )
        if len(mine) < limit:
            return 0.0
        return mine[-limit] + minute - now

    def _paced_start(self, state: WindowState) -> float:
        """The earliest start the GCRA allows, from the starts in the window (every
        process's: the pace is the app's, like the quota)."""
        minute = WINDOW_SECONDS + self.safety_margin_seconds
        spacing = minute / max(1, self.requests_per_minute - self.burst_calls + 1)
        arrival = 0.0  # the theoretical arrival time of the next call
        for started in sorted(entry.started for entry in state.entries):
            arrival = max(arrival, started) + spacing
        return arrival - spacing * (self.burst_calls - 1)

    def _is_first(self, ticket: int, now: float) -> bool:
        return first_in_line(self._waiters, now, self.aging_seconds) == ticket

    def _pause(self, seconds: float) -> None:
        if self._sleep is None:
            self._condition.wait(timeout=seconds)
            return
        self._condition.release()  # simulated clock: sleep without holding the lock
        try:
            self._sleep(seconds)
        finally:
            self._condition.acquire()

    def _try_take(self, now: float) -> tuple[float, str | None]:
        """Check and append in one critical section (across processes when shared)."""
        with self.window.open() as state:
            self._prune(state, now)
            self._mark_wanted(now, state)
            wait = self._wait_needed(now, state)
            if wait > 0:
                return wait, None
            entry_id = f"{self._budget_id}-{next(self._ids)}"
            state.entries.append(CallEntry(entry_id, now, background=bool(self.background_share)))
            return 0.0, entry_id

    def _admit(self, urgency: Urgency, label: str, since: float | None) -> tuple[_Call, float]:
        with self._condition:
            ticket = next(self._tickets)
            queued = self._clock()
            self._waiters[ticket] = Waiter(urgency, queued if since is None else min(since, queued))
            try:
                while True:
                    if self._interrupted:
                        raise SyncStoppedError("stopping: quota wait interrupted")
                    now = self._clock()
                    if not self._is_first(ticket, now):
                        self._pause(0.05)  # woken when the call ahead has gone
                        continue
                    wait, entry_id = self._try_take(now)
                    if entry_id is not None:
                        call = _Call(entry_id, now, label, urgency)
                        self._recent.append(call)
                        self.total_calls += 1
                        waited = now - queued
                        self.total_waited_seconds += waited
                        return call, waited
                    if self.window.shared:
                        wait = min(wait, SHARED_RECHECK_SECONDS)
                    self._pause(wait)
            finally:
                del self._waiters[ticket]
                self._condition.notify_all()

    def interrupt(self) -> None:
        """Wake every waiting caller with :class:`SyncStoppedError` (shutdown)."""
        with self._condition:
            self._interrupted = True
            self._condition.notify_all()

    def _finish(self, call: _Call) -> None:
        with self._condition:
            with self.window.open() as state:
                state.finish(call.entry_id, self._clock())
            self._condition.notify_all()

    @contextmanager
    def slot(
        self, urgency: Urgency = Urgency.FRESH, label: str = "", *, since: float | None = None
    ) -> Iterator[float]:
        """Wait for a slot, run the call inside the block; yields the seconds waited.

        ``since``: the moment this call's waiting counts from in the queue (default: now).
        """
        call, waited = self._admit(urgency, label, since)
        try:
            yield waited
        finally:
            self._finish(call)

    def acquire(self, urgency: Urgency = Urgency.FRESH, label: str = "") -> float:
        """Take a slot stamped now (no completion time); returns the seconds waited."""
        call, waited = self._admit(urgency, label, None)
        self._finish(call)
        return waited

    # -- server feedback and reporting --------------------------------------------------------

    def note_throttled(self, retry_after_seconds: float) -> None:
        """The server refused a call for quota: hold every caller back for a while."""
        with self._condition:
            now = self._clock()
            self.throttled_count += 1
            self.throttle_times.append(now)
            with self.window.open() as state:
                state.not_before = max(state.not_before, now + retry_after_seconds)

    def last_throttled_at(self) -> float | None:
        with self._condition:
            return self.throttle_times[-1] if self.throttle_times else None

    def now(self) -> float:
        return self._clock()

    def calls_in_last(self, seconds: float) -> int:
        """Calls of every process on this app key within the last ``seconds`` (a call in
        flight counts as now): the ``erpbi_api_quota_used`` gauge, read at scrape time."""
        with self._condition, self.window.open() as state:
            now = self._clock()
            self._prune(state, now)
            return sum(1 for entry in state.entries if now - entry.stamp(now) < seconds)

    def usage(self) -> dict[str, Any]:
        """Calls in the last minute (this process by urgency and stream; all processes)."""
        with self._condition:
            now = self._clock()
            while self._recent and now - self._recent[0].started >= WINDOW_SECONDS:
                self._recent.popleft()
            recent = list(self._recent)
            with self.window.open() as state:
                self._prune(state, now)
                everyone = sum(1 for e in state.entries if now - e.stamp(now) < WINDOW_SECONDS)
            return {
                "calls_last_minute": len(recent),
                "all_processes_last_minute": everyone,
                "shared": self.window.shared,
                "by_urgency": dict(Counter(call.urgency.name.lower() for call in recent)),
                "by_stream": dict(Counter(call.label for call in recent if call.label)),
                "throttled_total": self.throttled_count,
                "throttled_last_minute": sum(1 for t in self.throttle_times if now - t < 60.0),
                "calls_total": self.total_calls,
                "limits": {
                    "per_second": self.requests_per_second,
                    "per_minute": self.requests_per_minute,
                },
            }
