"""Prometheus metrics of the connector service: the ``connector`` job of monitoring/METRICS.md.

The metric objects live here, on prometheus_client's default registry, with the small
helpers the instrumented code calls (so a call site reads as one line of what happened):

* :func:`count_api_call` -- every HTTP call of the Jushuitan client (path, outcome, code,
  duration; quota waits excluded);
* :func:`watch_quota` -- the budget's calls in the last second and minute, read at scrape
  time, against its limits;
* :func:`note_produced` -- records and dead letters Kafka acknowledged;
* :func:`note_state` -- after a cursor save: the cursor's time (lag) and parked windows;
* :func:`note_success` -- a poll of a stream ended without parking or throttling.

:func:`serve` starts the ``/metrics`` endpoint once per process; only the long-running
``erpbi sync --follow`` calls it, and a taken port is logged, never fatal: metrics are
not worth stopping the data for.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from connectors.errors import RateLimitedError, RetriableTransportError
from connectors.models import parse_erp_time
from connectors.retries import pending_windows

if TYPE_CHECKING:
    from connectors.jushuitan.quota import QuotaBudget

log = logging.getLogger(__name__)

# From a quick simulator answer (~50 ms) to a slow page near the client timeout (60 s).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
QUOTA_WINDOWS = {"second": 1.0, "minute": 60.0}

API_REQUESTS = Counter(
    "erpbi_api_requests_total",
    "ERP API HTTP calls by path, result (ok/throttled/error) and code "
    "(the ERP answer code, http_NNN for an HTTP error status, or network).",
    ["path", "result", "code"],
)
API_REQUEST_DURATION = Histogram(
    "erpbi_api_request_duration_seconds",
    "Duration of one ERP API HTTP call (quota waits excluded).",
    ["path"],
    buckets=DURATION_BUCKETS,
)
QUOTA_USED = Gauge(
    "erpbi_api_quota_used",
    "Calls on this app key (every process of the machine) in the last second/minute.",
    ["window"],
)
QUOTA_ALLOWED = Gauge(
    "erpbi_api_quota_allowed",
    "Calls the ERP allows per second/minute on this app key (+Inf: no limit configured).",
    ["window"],
)
CURSOR_LAG = Gauge(
    "erpbi_connector_cursor_lag_seconds",
    "Now minus the time of the stream's saved cursor (window end, else the newest "
    "modified time it covers).",
    ["stream"],
)
RECORDS_PRODUCED = Counter(
    "erpbi_connector_records_produced_total",
    "Records of the stream acknowledged by Kafka on its ODS topic.",
    ["stream"],
)
DEAD_LETTERS = Counter(
    "erpbi_connector_dead_letters_total",
    "Dead letters of the stream acknowledged by Kafka on its DLQ topic.",
    ["stream"],
)
PARKED_WINDOWS = Gauge(
    "erpbi_connector_parked_windows",
    "Windows of the stream parked for automatic retry (as last saved).",
    ["stream"],
)
LAST_SUCCESS = Gauge(
    "erpbi_connector_last_success_timestamp_seconds",
    "Unix time of the stream's last poll that ended without parking or throttling.",
    ["stream"],
)


# -- the API client and the quota budget ----------------------------------------------------


def api_result(error: BaseException | None) -> str:
    """ok, throttled (the ERP's rate-limit answers: codes 199/200, HTTP 429) or error."""
    if error is None:
        return "ok"
    return "throttled" if isinstance(error, RateLimitedError) else "error"


def count_api_call(
    path: str, code: str, seconds: float, error: BaseException | None = None
) -> None:
    """One HTTP call: ``code`` is the ERP code or ``http_NNN``; a call that got no readable
    ERP answer (refused, timed out, cut, not JSON) counts as code ``network``."""
    if isinstance(error, RetriableTransportError):
        code = "network"
    API_REQUESTS.labels(path, api_result(error), code).inc()
    API_REQUEST_DURATION.labels(path).observe(max(0.0, seconds))


class _QuotaReader:
    """The budget the quota gauges read at scrape time (one per process: the last watched)."""

    def __init__(self) -> None:
        self.budget: QuotaBudget | None = None

    def used(self, seconds: float) -> float:
        budget = self.budget
        if budget is None:
            return math.nan
        try:
            return float(budget.calls_in_last(seconds))
        except OSError as error:  # the shared ledger is unreadable: say so, keep serving
            log.debug("quota ledger unreadable for metrics: %s", error)
            return math.nan


_quota_reader = _QuotaReader()


def watch_quota(budget: QuotaBudget) -> None:
    """Expose ``budget``'s use of the quota (read at each scrape) and its limits."""
    _quota_reader.budget = budget
    limits = {"second": budget.requests_per_second, "minute": budget.requests_per_minute}
    for window, seconds in QUOTA_WINDOWS.items():
        QUOTA_USED.labels(window).set_function(partial(_quota_reader.used, seconds))
        QUOTA_ALLOWED.labels(window).set(limits[window] if limits[window] > 0 else math.inf)


# -- the sync loop ----------------------------------------------------------------------------


def note_produced(stream: str, records: int, dead_letters: int) -> None:
    """Records and dead letters Kafka has just acknowledged for ``stream``."""
    RECORDS_PRODUCED.labels(stream).inc(records)
    DEAD_LETTERS.labels(stream).inc(dead_letters)


def cursor_time(state: Mapping[str, Any]) -> float | None:
    """Unix time the saved cursor stands for: ``window_end`` (modified-window streams),
    else the newest ``modified`` acknowledged (ts cursors are row versions, not times)."""
    moment = state.get("window_end") or state.get("stats", {}).get("last_modified")
    if not moment:
        return None
    try:
        return parse_erp_time(str(moment)).timestamp()
    except ValueError:
        return None


class _CursorTimes:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: dict[str, float] = {}

    def set(self, stream: str, moment: float) -> bool:
        """Remember the cursor time; True when the stream is new here."""
        with self._lock:
            new = stream not in self._times
            self._times[stream] = moment
            return new

    def lag(self, stream: str) -> float:
        with self._lock:
            moment = self._times.get(stream)
        return math.nan if moment is None else max(0.0, time.time() - moment)


_cursor_times = _CursorTimes()


def note_state(stream: str, state: Mapping[str, Any]) -> None:
    """After a cursor save (or at start, from the saved file): lag and parked windows."""
    moment = cursor_time(state)
    if moment is not None and _cursor_times.set(stream, moment):
        CURSOR_LAG.labels(stream).set_function(lambda: _cursor_times.lag(stream))
    PARKED_WINDOWS.labels(stream).set(len(pending_windows(dict(state))))


def note_success(stream: str) -> None:
    LAST_SUCCESS.labels(stream).set(time.time())


# -- the endpoint ---------------------------------------------------------------------------


class MetricsEndpoint:
    """``/metrics`` over HTTP, started at most once (a second start returns the first port)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tried = False
        self._server: WSGIServer | None = None

    def start(self, port: int, addr: str = "127.0.0.1") -> int | None:
        """The port served on, or None when it could not be opened (logged, not raised)."""
        with self._lock:
            if not self._tried:
                self._tried = True
                try:
                    self._server, _thread = start_http_server(port, addr=addr)
                except OSError as error:
                    log.error(
                        "cannot serve connector metrics on %s:%d (%s); the sync goes on "
                        "without /metrics (is another `erpbi sync --follow` running?)",
                        addr, port, error,
                    )  # fmt: skip
                    return None
                log.info("connector metrics on http://%s:%d/metrics", addr, self.port)
            return self.port

    @property
    def port(self) -> int | None:
        return None if self._server is None else int(self._server.server_port)

    def stop(self) -> None:
        with self._lock:
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
                self._server = None


ENDPOINT = MetricsEndpoint()


def serve(port: int, addr: str = "127.0.0.1") -> int | None:
    """Start this process's ``/metrics`` (once); None when the port is taken."""
    return ENDPOINT.start(port, addr)
