"""Superset's request metrics, served at ``/metrics`` of its own port (job ``superset`` of
monitoring/METRICS.md).

Superset runs under gunicorn in several worker processes, and a scrape reaches only one of
them: each worker counts into files of its own in ``PROMETHEUS_MULTIPROC_DIR``
(prometheus_client's multiprocess mode, chosen when prometheus_client is first imported;
``superset_env`` sets the variable for every Superset process) and ``/metrics`` sums the
files of all of them. :class:`RequestMetrics` is a WSGI middleware in front of Flask, outside
the response cache (a chart answered from the cache is timed too); it answers ``/metrics``
itself, before Flask: no login, no session, no metadata database (Superset listens on
loopback only). A request's duration is the time the app took to return its answer, the
body of a streamed answer aside.

This file is also gunicorn's config file (``server_command`` passes it as ``--config``).
Gunicorn takes from it the module-level names that are gunicorn settings: the hooks
:func:`when_ready` (empties the folder once the port is bound and before any worker
starts, so an earlier run's counts are not added again and a second server that cannot
bind the port leaves the running one's files alone) and :func:`child_exit` (a dead worker's
live gauges dropped). No other lower-case module-level name here may be a gunicorn setting
(``bind``, ``workers``, ``timeout``, ``wsgi_app``...): gunicorn would apply it.

Loaded by file path inside Superset's virtualenv (``superset_config`` installs it, next to
the response cache); imports only prometheus_client.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app, multiprocess

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"
# First match wins; explore_json is the legacy chart-data endpoint the province map uses.
KIND_PREFIXES = (
    ("/api/v1/chart/data", "chart_data"),
    ("/superset/explore_json/", "chart_data"),
    ("/superset/dashboard/", "dashboard"),
    ("/api/", "api"),
    ("/static/", "static"),
)
KINDS = ("chart_data", "dashboard", "api", "static", "other")
CACHE_RESULTS = ("hit", "miss", "bypass")
# A cached chart answers in milliseconds, a cold one in seconds; Superset gives up at 60 s.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

OWN_REGISTRY = CollectorRegistry()  # this process's values, when not under gunicorn
REQUEST_DURATION = Histogram(
    "erpbi_superset_request_duration_seconds",
    "Time Superset took to answer a request, by kind of request.",
    ["kind"],
    buckets=DURATION_BUCKETS,
    registry=OWN_REGISTRY,
)
RESPONSE_CACHE_REQUESTS = Counter(
    "erpbi_superset_response_cache_requests",
    "Chart-data requests by what the response cache did: hit (answered from it), miss "
    "(computed and kept) or bypass (never from it: forced, export, token, not shared).",
    ["result"],
    registry=OWN_REGISTRY,
)


def kind_of(path: str) -> str:
    """The ``kind`` label of a request path: a handful of values, never the path itself."""
    for prefix, kind in KIND_PREFIXES:
        if path.startswith(prefix):
            return kind
    return "other"


def count_cache_result(result: str) -> None:
    """What the response cache did with a chart-data request (hit/miss/bypass)."""
    RESPONSE_CACHE_REQUESTS.labels(result).inc()


def multiprocess_folder() -> Path | None:
    folder = os.environ.get(MULTIPROCESS_VARIABLE)
    return Path(folder) if folder else None


def exposition_registry() -> CollectorRegistry:
    """All workers' values when in multiprocess mode (read from the folder at each scrape),
    else this process's own."""
    folder = multiprocess_folder()
    if folder is None:
        return OWN_REGISTRY
    folder.mkdir(parents=True, exist_ok=True)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    return registry


class RequestMetrics:
    """WSGI middleware: times every request by kind and answers ``/metrics``."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.exposition: WsgiApp = make_wsgi_app(exposition_registry())
        self.series_created = False

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path == METRICS_PATH:
            return self.exposition(environ, start_response)
        if not self.series_created:
            self.create_series()
        started = time.perf_counter()
        try:
            return self.app(environ, start_response)
        finally:
            REQUEST_DURATION.labels(kind_of(path)).observe(time.perf_counter() - started)

    def create_series(self) -> None:
        """Every kind and result at 0 from this worker's first request on, so a rate over a
        kind nobody asked for yet is 0, not absent. Not at install: a process that builds
        the app and serves nothing (the bootstrap) leaves no files behind."""
        for kind in KINDS:
            REQUEST_DURATION.labels(kind)
        for result in CACHE_RESULTS:
            RESPONSE_CACHE_REQUESTS.labels(result)
        self.series_created = True


def install(app: Any) -> RequestMetrics:
    """Wrap Flask ``app``'s WSGI app (call it after every other middleware: outermost)."""
    middleware = RequestMetrics(app.wsgi_app)
    app.wsgi_app = middleware
    return middleware


# --- gunicorn hooks (this file is gunicorn's --config) ---------------------------------------


def empty_multiprocess_folder() -> None:
    """Start from nothing: the files of the last run's workers would be added forever."""
    folder = multiprocess_folder()
    if folder is None:
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)


def when_ready(server: Any) -> None:
    """Gunicorn: the port is bound, no worker runs yet."""
    empty_multiprocess_folder()


def child_exit(server: Any, worker: Any) -> None:
    """Gunicorn: a worker has exited; its counters stay in the sums, its live gauges go."""
    if multiprocess_folder() is not None:
        multiprocess.mark_process_dead(worker.pid)
