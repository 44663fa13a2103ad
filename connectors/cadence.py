"""When the next sync round starts: normal cadence, backoff, or degraded 5-minute cycles.

Shared by every stream worker of one app (the quota is per app). The runner reports each
poll (:meth:`Cadence.after_sync`); a poll counts as *throttled* when the server refused
calls for quota during it (the budget's throttle counter moved) or a page ended parked on
a quota refusal.

* NORMAL: each worker paces its own polls (:mod:`connectors.runner`); after a throttled
  poll the pause is at least a backoff that doubles up to ``max_backoff_seconds``.
* DEGRADED: entered when throttling has lasted ``degrade_after_seconds`` (events less than
  ``streak_gap_seconds`` apart). Full rounds run only every ``degraded_cycle_seconds``
  (5 minutes: coarser freshness, no loss: cursors never pass unread data). Meanwhile one
  worker probes the API with one cheap call every ``probe_seconds``; after
  ``recover_after_probes`` clean probes in a row (or one clean full round) the cadence is
  NORMAL again, at once, by itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from enum import StrEnum

from connectors.errors import RetriableError

log = logging.getLogger(__name__)


class Mode(StrEnum):
    NORMAL = "normal"
    DEGRADED = "degraded"


class Cadence:
    def __init__(
        self,
        poll_seconds: float,
        *,
        throttle_count: Callable[[], int] | None = None,
        probe: Callable[[], None] | None = None,
        degraded_cycle_seconds: float = 300.0,
        degrade_after_seconds: float = 60.0,
        streak_gap_seconds: float = 45.0,
        probe_seconds: float = 15.0,
        recover_after_probes: int = 2,
        max_backoff_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.poll_seconds = poll_seconds
        self.degraded_cycle_seconds = degraded_cycle_seconds
        self.degrade_after_seconds = degrade_after_seconds
        self.streak_gap_seconds = streak_gap_seconds
        self.probe_seconds = probe_seconds
        self.recover_after_probes = recover_after_probes
        self.max_backoff_seconds = max_backoff_seconds
        self._has_throttle_count = throttle_count is not None
        self._throttle_count: Callable[[], int] = throttle_count or (lambda: 0)
        self._probe = probe
        self._clock = clock
        self._condition = threading.Condition()
        self._probe_lock = threading.Lock()
        self.mode = Mode.NORMAL
        self._streak_start: float | None = None
        self._last_throttle: float | None = None
        self._backoff = poll_seconds
        self._clean_probes = 0
        self.transitions: list[tuple[float, Mode]] = []  # (clock time, new mode)

    def now(self) -> float:
        return self._clock()

    def attach(
        self,
        *,
        probe: Callable[[], None] | None = None,
        throttle_count: Callable[[], int] | None = None,
    ) -> None:
        """Fill in the probe / throttle counter when the cadence was built without them."""
        if probe is not None and self._probe is None:
            self._probe = probe
        if throttle_count is not None and not self._has_throttle_count:
            self._throttle_count = throttle_count
            self._has_throttle_count = True

    @property
    def next_delay(self) -> float:
        """The pause after the current round in NORMAL mode (backoff included)."""
        return self._backoff

    # -- observations ---------------------------------------------------------------------

    def throttle_mark(self) -> int:
        """Call before a sync; pass the result to :meth:`after_sync`."""
        return self._throttle_count()

    def after_sync(self, mark: int, rate_limited: bool) -> bool:
        """Record one stream sync; returns whether it was throttled."""
        throttled = rate_limited or self._throttle_count() > mark
        if throttled:
            self.note_throttle()
        return throttled

    def note_throttle(self) -> None:
        with self._condition:
            now = self._clock()
            if self._last_throttle is None or now - self._last_throttle > self.streak_gap_seconds:
                self._streak_start = now
            self._last_throttle = now
            self._clean_probes = 0
            start = self._streak_start if self._streak_start is not None else now
            if self.mode is Mode.NORMAL and now - start >= self.degrade_after_seconds:
                self._switch(Mode.DEGRADED, f"throttled for {now - start:.0f} s")

    def after_round(self, throttled: bool) -> None:
        """A worker finished a poll; a clean one ends a degraded period."""
        with self._condition:
            if throttled:
                doubled = max(self._backoff * 2, self.poll_seconds)
                self._backoff = min(doubled, self.max_backoff_seconds)
            else:
                self._backoff = self.poll_seconds
                if self.mode is Mode.DEGRADED:
                    self._switch(Mode.NORMAL, "a full round ran without throttling")

    def _switch(self, mode: Mode, why: str) -> None:
        self.mode = mode
        self._streak_start = None if mode is Mode.NORMAL else self._streak_start
        if mode is Mode.NORMAL:
            self._last_throttle = None
            self._backoff = self.poll_seconds
        self.transitions.append((self._clock(), mode))
        log.warning(
            "cadence %s (%s): rounds every %.0f s", mode, why,
            self.degraded_cycle_seconds if mode is Mode.DEGRADED else self.poll_seconds,
        )  # fmt: skip
        self._condition.notify_all()

    # -- waiting --------------------------------------------------------------------------

    def wait_for_next_round(self, stop: threading.Event, round_started: float) -> None:
        """Pause until the next round is due (or ``stop`` is set)."""
        with self._condition:
            mode, delay = self.mode, self._backoff
        if mode is Mode.NORMAL:
            if delay > self.poll_seconds:
                log.warning("throttled: next round in %.1f s", delay)
            self.pause(stop, delay)
            return
        due = round_started + self.degraded_cycle_seconds
        next_probe = self._clock() + self.probe_seconds
        while not stop.is_set() and self.mode is Mode.DEGRADED:
            now = self._clock()
            if now >= due:
                return
            if now >= next_probe and self._probe_lock.acquire(blocking=False):
                try:
                    self._run_probe()
                finally:
                    self._probe_lock.release()
                next_probe = self._clock() + self.probe_seconds
                continue
            self.pause(stop, min(due, next_probe) - now)

    def pause(self, stop: threading.Event, seconds: float) -> None:
        """Sleep up to ``seconds``, waking early on stop or a mode change (checked often)."""
        end = self._clock() + max(0.0, seconds)
        mode = self.mode
        while not stop.is_set() and self.mode is mode:
            remaining = end - self._clock()
            if remaining <= 0:
                return
            with self._condition:
                self._condition.wait(timeout=min(remaining, 0.25))

    def _run_probe(self) -> None:
        if self._probe is None:
            return
        mark = self._throttle_count()
        try:
            self._probe()
        except RetriableError as error:
            log.info("probe failed (%s): still degraded", type(error).__name__)
            self.note_throttle()
            return
        if self._throttle_count() > mark:
            self.note_throttle()
            return
        with self._condition:
            self._clean_probes += 1
            if self._clean_probes >= self.recover_after_probes and self.mode is Mode.DEGRADED:
                self._switch(Mode.NORMAL, f"{self._clean_probes} clean probes")
