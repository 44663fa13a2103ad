"""Runs the streams of one app: a hot lane and a cold lane sharing one quota budget.

Hot streams (outbound, refund, after-sale received) and cold ones (dimensions, inventory
scans) run on two threads, each taking its streams in turn; the shared
:class:`~connectors.jushuitan.quota.QuotaBudget` gives hot calls precedence, so a long
initial SKU load never holds back the outbound screen. Each lane pauses between rounds
as the shared :class:`~connectors.cadence.Cadence` says (normal, backoff, degraded).

Errors: fatal ones stop every lane and propagate. In follow mode retriable ones
(Kafka unavailable...) are logged and the lane backs off; in once mode they propagate,
and parked windows left at the end raise :class:`SyncIncompleteError`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from connectors.base import PageProgress, StreamConnector, SyncReport
from connectors.cadence import Cadence
from connectors.errors import RetriableError, SyncIncompleteError, SyncStoppedError

log = logging.getLogger(__name__)


def lanes_of(connectors: Sequence[StreamConnector]) -> dict[str, list[StreamConnector]]:
    """``{"hot": [...], "cold": [...]}`` keeping the given order; empty lanes left out."""
    lanes = {
        "hot": [connector for connector in connectors if connector.hot],
        "cold": [connector for connector in connectors if not connector.hot],
    }
    return {name: members for name, members in lanes.items() if members}


class SyncRunner:
    def __init__(
        self,
        connectors: Sequence[StreamConnector],
        *,
        follow: bool,
        stop_event: threading.Event,
        cadence: Cadence,
        after_sync: Callable[[SyncReport], None] | None = None,
        on_stop: Callable[[], None] | None = None,
    ):
        self.connectors = list(connectors)
        self.follow = follow
        self.stop_event = stop_event
        self.cadence = cadence
        self.after_sync = after_sync
        self.on_stop = on_stop  # wakes lanes blocked in a quota wait
        self.totals = {c.stream: SyncReport(c.stream) for c in self.connectors}
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()

    def run(self) -> dict[str, SyncReport]:
        threads = [
            threading.Thread(target=self._lane, args=(name, members), name=f"lane-{name}")
            for name, members in lanes_of(self.connectors).items()
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

    def note_page(self, progress: PageProgress) -> None:
        """Totals grow page by page, so a long first sync shows progress when stopped."""
        with self._lock:
            self.totals[progress.stream].add(progress)

    def _lane(self, name: str, members: list[StreamConnector]) -> None:
        try:
            while not self.stop_event.is_set():
                round_started = self.cadence.now()
                throttled = False
                for connector in members:
                    if self.stop_event.is_set():
                        break
                    throttled |= self._sync_one(connector)
                if not self.follow:
                    return
                self.cadence.after_round(throttled)
                self.cadence.wait_for_next_round(self.stop_event, round_started)
        except BaseException as error:  # handed to the main thread, which re-raises it
            with self._lock:
                self.errors.append(error)
            self.stop_event.set()

    def _sync_one(self, connector: StreamConnector) -> bool:
        """One stream sync; returns whether it was throttled or failed."""
        mark = self.cadence.throttle_mark()
        try:
            report = connector.sync_once()
        except RetriableError as error:
            if not self.follow:
                raise
            log.warning("%s: %s: %s", connector.stream, type(error).__name__, error)
            return True
        throttled = self.cadence.after_sync(mark, report.rate_limited)
        with self._lock:  # pages were counted as they came (note_page); parking is not a page
            total = self.totals[connector.stream]
            total.dead_letters += report.parked_letters
            total.parked_windows += report.parked_windows
        if report.records or report.dead_letters or report.parked_windows:
            log.info("%s", report.summary())
        if self.after_sync is not None:
            self.after_sync(report)
        return throttled
