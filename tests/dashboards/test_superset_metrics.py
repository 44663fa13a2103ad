"""Superset's /metrics: every request timed by a handful of kinds, the response cache's
hits, misses and bypasses counted, the counts of all gunicorn workers summed on one page
answered before Flask, and a new server starting from zero."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dashboards import superset_metrics
from dashboards.superset_metrics import RequestMetrics, kind_of
from testkit.support import free_port

pytestmark = pytest.mark.unit

DASHBOARDS = Path(superset_metrics.__file__).parent
WORKLOAD = [
    ("POST", "/api/v1/chart/data", b'{"queries": [{}]}'),  # worker 1: miss, worker 2: hit
    ("POST", "/api/v1/chart/data", b'{"queries": [{}]}'),  # hit
    ("POST", "/api/v1/chart/data", b'{"force": true, "queries": [{}]}'),  # bypass
    ("GET", "/superset/dashboard/2/", b""),
    ("GET", "/api/v1/me/", b""),
    ("GET", "/static/assets/spa.js", b""),
    ("GET", "/login/", b""),
]
# One gunicorn worker as the unit test sees it: Superset's middlewares as superset_config
# loads them (by file path) around a stand-in for Flask, a workload, then a scrape.
WORKER = """
import importlib.util, io, sys
from pathlib import Path
from wsgiref.util import setup_testing_defaults

def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

metrics = load("erpbi_superset_metrics", sys.argv[1] + "/superset_metrics.py")
cache = load("erpbi_superset_response_cache", sys.argv[1] + "/superset_response_cache.py")

def flask(environ, start_response):
    environ[cache.SHAREABLE] = True
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b"{}"]

answers = cache.ResponseCache(5, Path(sys.argv[2]))
app = cache.SharedChartAnswers(flask, answers, lambda environ: "wall",
                               metrics.count_cache_result)
app = metrics.RequestMetrics(app)

def ask(method, path, body):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(body),
               "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json"}
    setup_testing_defaults(environ)
    return b"".join(app(environ, lambda status, headers, exc_info=None: None))

for line in sys.stdin.read().splitlines():
    method, path, body = line.split(" ", 2)
    ask(method, path, body.encode())
sys.stdout.write(ask("GET", "/metrics", b"").decode())
"""


def samples(page: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The page's samples by name and labels (also proves the page parses)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
    }


def run_worker(tmp_path: Path, workload: list[tuple[str, str, bytes]]) -> str:
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    lines = "".join(f"{method} {path} {body.decode()}\n" for method, path, body in workload)
    command = [sys.executable, "-c", WORKER, str(DASHBOARDS), str(tmp_path / "answers")]
    done = subprocess.run(command, input=lines, env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize(
    "path, kind",
    [
        ("/api/v1/chart/data", "chart_data"),
        ("/superset/explore_json/", "chart_data"),
        ("/superset/dashboard/7/", "dashboard"),
        ("/api/v1/dashboard/7/charts", "api"),
        ("/static/assets/images/favicon.png", "static"),
        ("/login/", "other"),
        ("/", "other"),
    ],
)
def test_a_request_is_one_of_a_handful_of_kinds(path: str, kind: str) -> None:
    assert kind_of(path) == kind


def test_the_workers_counts_are_summed_on_one_page(tmp_path: Path) -> None:
    (tmp_path / "metrics").mkdir()
    first = samples(run_worker(tmp_path, WORKLOAD))
    both = samples(run_worker(tmp_path, WORKLOAD))  # another process, the same folder
    count = "erpbi_superset_request_duration_seconds_count"
    assert first[(count, (("kind", "chart_data"),))] == 3
    expected = {"chart_data": 6, "dashboard": 2, "api": 2, "static": 2, "other": 2}
    for kind, requests in expected.items():
        assert both[(count, (("kind", kind),))] == requests, kind  # /metrics itself not timed
        inf = ("erpbi_superset_request_duration_seconds_bucket", (("kind", kind), ("le", "+Inf")))
        assert both[inf] == requests
    cache = "erpbi_superset_response_cache_requests_total"
    results = {result: both[(cache, (("result", result),))] for result in ("hit", "miss", "bypass")}
    assert results == {"hit": 3, "miss": 1, "bypass": 2}  # the second worker reads the first's


def test_a_worker_with_no_requests_yet_shows_every_series_at_zero(tmp_path: Path) -> None:
    (tmp_path / "metrics").mkdir()
    page = samples(run_worker(tmp_path, [("GET", "/health", b"")]))
    count = "erpbi_superset_request_duration_seconds_count"
    assert page[(count, (("kind", "chart_data"),))] == 0
    assert page[(count, (("kind", "other"),))] == 1
    assert page[("erpbi_superset_response_cache_requests_total", (("result", "hit"),))] == 0


def test_metrics_are_answered_before_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)  # one process: its own
    called: list[str] = []

    def flask(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        called.append(environ["PATH_INFO"])
        start_response("302 FOUND", [("Location", "/login/")])  # what an anonymous user gets
        return [b""]

    app = RequestMetrics(flask)
    sent: dict[str, Any] = {}

    def ask(path: str) -> bytes:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "",
                   "wsgi.input": io.BytesIO()}  # fmt: skip
        return b"".join(app(environ, lambda status, headers: sent.update(status=status)))

    ask("/superset/dashboard/1/")
    page = ask("/metrics").decode()
    assert called == ["/superset/dashboard/1/"] and sent["status"] == "200 OK"
    found = samples(page)
    assert found[("erpbi_superset_request_duration_seconds_count", (("kind", "dashboard"),))] >= 1


def test_gunicorn_hooks_empty_the_folder_and_mark_dead_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    (folder / "counter_4242.db").write_bytes(b"an earlier run")
    superset_metrics.when_ready(server=None)
    assert folder.is_dir() and list(folder.iterdir()) == []
    (folder / "gauge_livesum_4343.db").write_bytes(b"")
    (folder / "counter_4343.db").write_bytes(b"")
    superset_metrics.child_exit(server=None, worker=type("Worker", (), {"pid": 4343}))
    assert [path.name for path in folder.iterdir()] == ["counter_4343.db"]  # counts stay


# A stand-in for Superset under gunicorn: each answer names the worker; /slow holds a sync
# worker so that concurrent requests reach the other one.
APP = """
import importlib.util, os, time
spec = importlib.util.spec_from_file_location("erpbi_superset_metrics", {path!r})
metrics = importlib.util.module_from_spec(spec)
spec.loader.exec_module(metrics)

def flask(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        time.sleep(0.3)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]

application = metrics.RequestMetrics(flask)
"""
SETTINGS_CHECK = """
import runpy, sys
from gunicorn.config import KNOWN_SETTINGS
names = {setting.name for setting in KNOWN_SETTINGS}
print(sorted(set(runpy.run_path(sys.argv[1])) & names))
"""


@pytest.mark.integration
def test_under_gunicorn_workers_sum_and_a_dead_worker_s_counts_stay(tmp_path: Path) -> None:
    """The config file and the command of superset_service, in Superset's venv with a small
    app: the folder emptied at start, /metrics on the app's own port summing both workers,
    before and after a worker dies."""
    from common.settings import load_settings
    from dashboards.superset_service import GUNICORN_CONFIG_PATH, venv_bin

    settings = load_settings()
    gunicorn, python = venv_bin(settings, "gunicorn"), venv_bin(settings, "python")
    assert gunicorn.exists(), "gunicorn is pinned in requirements/superset.txt: run bootstrap"
    only_hooks = subprocess.run([str(python), "-c", SETTINGS_CHECK, str(GUNICORN_CONFIG_PATH)],
                                capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert only_hooks.stdout.strip() == "['child_exit', 'when_ready']"  # nothing else applied
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "histogram_4242.db").write_bytes(b"an earlier run")
    (tmp_path / "stand_in.py").write_text(APP.format(path=str(GUNICORN_CONFIG_PATH)))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(gunicorn), "--config", str(GUNICORN_CONFIG_PATH), "--bind",
               f"127.0.0.1:{port}", "--workers", "2", "--pythonpath", str(tmp_path),
               "stand_in:application"]  # fmt: skip
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(folder))
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/metrics", timeout=2).read()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "no gunicorn"
                time.sleep(0.2)
        assert not (folder / "histogram_4242.db").exists()
        workers: set[str] = set()

        def ask() -> None:
            with urllib.request.urlopen(f"{base}/slow", timeout=10) as answer:
                workers.add(answer.read().decode())

        threads = [threading.Thread(target=ask) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(15)
        assert len(workers) == 2  # both workers answered some
        count = ("erpbi_superset_request_duration_seconds_count", (("kind", "other"),))

        def scraped() -> float:
            with urllib.request.urlopen(f"{base}/metrics", timeout=5) as page:
                return samples(page.read().decode())[count]

        assert scraped() == 6
        os.kill(int(min(workers)), signal.SIGTERM)  # gunicorn starts another
        time.sleep(1.0)
        assert server.poll() is None and scraped() == 6
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        _, errors = server.communicate(timeout=30)
    assert b"Traceback" not in errors, errors.decode(errors="replace")[-2000:]
