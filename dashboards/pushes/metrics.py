"""The push service's metrics at ``<monitoring.metrics_bind>:<monitoring.pusher_port>/metrics`` (job
``pusher`` of monitoring/METRICS.md): how each scheduled run of each push ended.

A run ends ``sent`` (every channel delivered) or ``failed`` (a channel refused or has no
robot, the screen failed its checks, the numbers could not be read, or the send raised):
the word before the colon of the result the ledger keeps (``sent: feishu delivered``). A
run missed beyond ``push.missed_run_grace_minutes`` is never claimed, so never counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, start_http_server

from common.settings import Settings

log = logging.getLogger(__name__)
RESULTS = ("sent", "failed")
OTHER_RESULT = "other"  # a send function answering neither: still counted, labels stay few

PUSH_RUNS = Counter(
    "erpbi_push_runs",
    "Scheduled push runs by push and how they ended (sent or failed).",
    ["push", "result"],
)


def result_label(result: str) -> str:
    """``sent``/``failed`` out of a run's result text (``failed: RuntimeError: ...``)."""
    word = result.split(":", 1)[0].strip()
    return word if word in RESULTS else OTHER_RESULT


def count_run(push: str, result: str) -> None:
    PUSH_RUNS.labels(push, result_label(result)).inc()


def serve_metrics(settings: Settings, pushes: Iterable[str]) -> WSGIServer | None:
    """``/metrics`` on loopback, every push's series at 0 from the start (a rate over a push
    that has not run yet is 0, not absent). None when the port is taken: logged, and the
    pushes go on without their metrics."""
    for push in pushes:
        for result in RESULTS:
            PUSH_RUNS.labels(push, result)
    port, bind = settings.monitoring.pusher_port, settings.monitoring.metrics_bind
    try:
        server, _thread = start_http_server(port, addr=bind)
    except OSError as error:
        log.error(
            "push metrics not served: %s:%d is taken (%s); is another program on "
            "monitoring.pusher_port? The pushes go on without /metrics.",
            bind,
            port,
            error,
        )
        return None
    log.info("push metrics on http://%s:%d/metrics", bind, port)
    return server


def stop_metrics(server: WSGIServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
