"""Live traffic: a background thread that keeps the simulated business running.

Every tick it plays the engine up to the wall clock, so new orders, shipments,
after-sales and stock moves appear at the configured rate (times the speed) and the
pipeline has something to show. Off unless started: tests decide explicitly when the
ERP moves. Stopping pauses everything; on restart the paused stretch is skipped, not
replayed (nothing is stamped in the past).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from connectors.models import BEIJING
from erp_simulator.engine import ErpEngine

log = logging.getLogger(__name__)


def precise_beijing_now() -> datetime:
    return datetime.now(BEIJING)


class LiveTraffic:
    def __init__(
        self,
        engine: ErpEngine,
        *,
        clock: Callable[[], datetime] = precise_beijing_now,
        tick_seconds: float = 0.2,
    ):
        self.engine = engine
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.running = False
        self.writes = 0
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self, orders_per_hour: float | None = None, speed: float | None = None) -> None:
        with self._lock:
            self.engine.set_rate(orders_per_hour, speed)
            if not self.running:
                self.engine.resume(self.clock())
                self.running = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="simulator-traffic", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        with self._lock:
            if self.running:
                self.engine.run_until(self.clock())  # finish the last tick
            self.running = False

    def close(self) -> None:
        self.stop()
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self.tick_seconds)
            self._wake.clear()
            with self._lock:
                if not self.running or self._closed.is_set():
                    continue
                try:
                    self.writes += self.engine.run_until(self.clock())
                except Exception:  # keep serving the API even if a tick breaks
                    log.exception("live traffic tick failed; pausing traffic")
                    self.running = False

    def state(self) -> dict[str, Any]:
        return {"running": self.running, "writes": self.writes, **self.engine.state(self.clock())}
