"""Runs the streams of one app: one worker per stream, each poll paced by what it finds.

A stream's worker keeps one :class:`Pace` per target (a warehouse for inventory, the
whole stream otherwise). After a poll that found rows the next one comes
``poll_interval_seconds`` later; while pages come back full, at once (a backlog); each
empty poll doubles the pause, up to the stream's ``poll_max_seconds``. The calls of a
poll carry an urgency to the shared quota budget (:mod:`connectors.urgency`): ``FRESH``
when the target had caught up, else its stream's backlog class, so what freshness does
not need goes to whoever has a backlog, dimensions first, then inventory, then documents.
Once a target has caught up, all its calls (a live backlog's pages too) rank by when it
was last known complete (``Pace.complete_at``): the stalest live target goes first.

The shared :class:`~connectors.cadence.Cadence` still rules over throttling: after a
throttled poll the pause is at least its backoff, and in DEGRADED mode each worker polls
once per degraded cycle while one probe a while tells when the API answers again.

Once mode (``follow=False``): every stream catches up in parallel and the run returns.
Errors: fatal ones stop every worker and propagate. In follow mode retriable ones (Kafka
unavailable...) are logged and that target backs off; in once mode they propagate, and
windows left parked raise :class:`SyncIncompleteError`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from connectors import metrics
from connectors.base import PageProgress, StreamConnector, SyncReport
from connectors.cadence import Cadence, Mode
from connectors.errors import RetriableError, SyncIncompleteError, SyncStoppedError
from connectors.urgency import planned_calls

log = logging.getLogger(__name__)

GROWTH = 2.0  # an empty poll doubles the pause
DEFAULT_MAX_SECONDS = 30.0


@dataclass
class Pace:
    """When one target is polled next, from what its last polls found."""

    target: str
    least: float
    most: float
    pause: float = 0.0
    due: float = 0.0
    caught_up: bool = False  # the last poll ended without a backlog
    complete_at: float | None = None  # when the last poll that caught up started

    def __post_init__(self) -> None:
        self.most = max(self.most, self.least)
        self.pause = self.least

    def after(
        self, report: SyncReport | None, now: float, backoff: float, started: float | None = None
    ) -> None:
        """``started``: when the poll began (its answer covers changes up to then)."""
        if report is None or report.parked_windows or report.rate_limited:
            self.due = now + max(self.pause, backoff)  # failed: the cadence backs off
            return
        if report.more:
            self.caught_up, self.pause, self.due = False, self.least, now
            return
        self.caught_up = True
        self.complete_at = now if started is None else started
        if report.rows_seen > 0:
            self.pause = self.least
        else:
            self.pause = min(self.most, max(self.pause * GROWTH, self.least))
        self.due = now + self.pause


class SyncRunner:
    def __init__(
        self,
        connectors: Sequence[StreamConnector],
        *,
        follow: bool,
        stop_event: threading.Event,
        cadence: Cadence,
        poll_least_seconds: float | None = None,
        poll_most_seconds: Mapping[str, float] | None = None,
        after_sync: Callable[[SyncReport], None] | None = None,
        on_stop: Callable[[], None] | None = None,
        calls_made: Callable[[], int] | None = None,
    ):
        self.connectors = list(connectors)
        self.follow = follow
        self.stop_event = stop_event
        self.cadence = cadence
        self.least = poll_least_seconds if poll_least_seconds is not None else cadence.poll_seconds
        self.most = dict(poll_most_seconds or {})
        self.after_sync = after_sync
        self.on_stop = on_stop  # wakes workers blocked in a quota wait
        # The budget's call counter: a poll that made no call (a full scan not due yet)
        # says nothing about the API, so it neither ends a degraded period nor a backoff.
        self.calls_made = calls_made
        self.totals = {c.stream: SyncReport(c.stream) for c in self.connectors}
        self.paces: dict[str, list[Pace]] = {}
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()

    def run(self) -> dict[str, SyncReport]:
        threads = [
            threading.Thread(target=self._worker, args=(c,), name=f"sync-{c.stream}")
            for c in self.connectors
        ]
        for thread in threads:
            thread.start()
        stopping = False
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.2)  # stay responsive to signals in the main thread
                if self.stop_event.is_set() and not stopping and self.on_stop is not None:
                    stopping = True
                    self.on_stop()
        errors = [e for e in self.errors if not isinstance(e, SyncStoppedError)]
        if errors:
            raise errors[0]
        parked = {s: r.parked_windows for s, r in self.totals.items() if r.parked_windows}
        if not self.follow and parked:
            raise SyncIncompleteError(
                f"windows parked for retry (run the sync again): {parked}", dict(self.totals)
            )
        return self.totals

    def current_pauses(self) -> dict[str, float]:
        """Per stream, the longest pause its targets now keep between polls."""
        with self._lock:
            return {
                stream: round(max(pace.pause for pace in paces), 2)
                for stream, paces in self.paces.items()
                if paces
            }

    def note_page(self, progress: PageProgress) -> None:
        """Totals grow page by page, so a long first sync shows progress when stopped."""
        with self._lock:
            self.totals[progress.stream].add(progress)

    def _worker(self, connector: StreamConnector) -> None:
        try:
            if self.follow:
                self._follow(connector)
            else:
                self._once(connector)
        except BaseException as error:  # handed to the main thread, which re-raises it
            with self._lock:
                self.errors.append(error)
            self.stop_event.set()

    def _once(self, connector: StreamConnector) -> None:
        """Catch up once; backlog urgency throughout (dimensions before facts)."""
        with planned_calls(connector.backlog_urgency, caught_up=False):
            report = connector.sync_once()
        self._account(report)

    def _targets(self, connector: StreamConnector) -> list[str]:
        """The connector's targets (inventory asks the API for its warehouses): retried
        with the cadence's backoff while the API refuses."""
        while True:
            mark = self.cadence.throttle_mark()
            try:
                return connector.poll_targets()
            except RetriableError as error:
                log.warning("%s: cannot list its targets yet (%s: %s)", connector.stream,
                            type(error).__name__, error)  # fmt: skip
            self.cadence.after_sync(mark, rate_limited=True)
            self.cadence.after_round(throttled=True)
            self.cadence.pause(self.stop_event, self.cadence.next_delay)
            if self.stop_event.is_set():
                raise SyncStoppedError("stopping")

    def _follow(self, connector: StreamConnector) -> None:
        paces = [
            Pace(target, self.least, self.most.get(connector.stream, DEFAULT_MAX_SECONDS))
            for target in self._targets(connector)
        ]
        with self._lock:
            self.paces[connector.stream] = paces
        last_started = self.cadence.now()
        while not self.stop_event.is_set():
            pace = min(paces, key=lambda p: p.due)
            if self.cadence.mode is Mode.DEGRADED:
                self.cadence.wait_for_next_round(self.stop_event, last_started)
            else:
                self.cadence.pause(self.stop_event, pace.due - self.cadence.now())
                if self.cadence.mode is Mode.DEGRADED:
                    continue  # woken by the switch: wait out the degraded cycle instead
            if self.stop_event.is_set():
                return
            last_started = self.cadence.now()
            calls_made = self.calls_made
            calls_before = calls_made() if calls_made is not None else None
            throttled, report = self._poll(connector, pace)
            if throttled or calls_made is None or calls_made() > (calls_before or 0):
                self.cadence.after_round(throttled)
            backoff = self.cadence.next_delay if throttled else 0.0
            pace.after(report, self.cadence.now(), backoff, last_started)

    def _poll(self, connector: StreamConnector, pace: Pace) -> tuple[bool, SyncReport | None]:
        """One poll of one target; returns (throttled or failed, its report)."""
        mark = self.cadence.throttle_mark()
        try:
            with planned_calls(
                connector.backlog_urgency, caught_up=pace.caught_up, complete_at=pace.complete_at
            ):
                report = connector.poll(pace.target)
        except RetriableError as error:
            log.warning("%s[%s]: %s: %s", connector.stream, pace.target,
                        type(error).__name__, error)  # fmt: skip
            return True, None
        throttled = self.cadence.after_sync(mark, report.rate_limited)
        self._account(report)
        return throttled, report

    def _account(self, report: SyncReport) -> None:
        with self._lock:  # pages were counted as they came (note_page); parking is not a page
            total = self.totals[report.stream]
            total.dead_letters += report.parked_letters
            total.parked_windows += report.parked_windows
        if not report.parked_windows and not report.rate_limited:
            metrics.note_success(report.stream)
        if report.parked_windows:
            log.info("%s", report.summary())
        if self.after_sync is not None:
            self.after_sync(report)
