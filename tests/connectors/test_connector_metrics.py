"""The connector's Prometheus metrics (issue 15, the ``connector`` row of monitoring/METRICS.md).

The metrics live on the process-wide default registry, so every assertion compares
before and after a sync instead of absolute values.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import socket
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from common.settings import Settings, load_settings
from connectors import metrics
from connectors.cli import run_sync, state_directory
from connectors.errors import RetriableTransportError, SyncIncompleteError
from connectors.jushuitan.client import JushuitanClient
from connectors.jushuitan.quota import QuotaBudget
from connectors.jushuitan.source import JushuitanSource
from connectors.kafka_producer import InMemoryProducer
from connectors.models import parse_erp_time
from erp_simulator import SimulatorControl

pytestmark = pytest.mark.unit

INVENTORY = "/open/inventory/query"
STREAMS = ["inventory", "sku"]
CONNECTOR_SERIES = [
    "erpbi_api_requests_total",
    "erpbi_api_request_duration_seconds",
    "erpbi_api_quota_used",
    "erpbi_api_quota_allowed",
    "erpbi_connector_cursor_lag_seconds",
    "erpbi_connector_records_produced_total",
    "erpbi_connector_dead_letters_total",
    "erpbi_connector_parked_windows",
    "erpbi_connector_last_success_timestamp_seconds",
]


def value(name: str, **labels: str) -> float:
    found = REGISTRY.get_sample_value(name, labels)
    return 0.0 if found is None else found


def api_calls() -> Counter[tuple[str, str, str]]:
    """Every (path, result, code) of ``erpbi_api_requests_total`` with its count."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for family in REGISTRY.collect():
        if family.name == "erpbi_api_requests":
            for sample in family.samples:
                if sample.name == "erpbi_api_requests_total":
                    labels = sample.labels
                    counts[labels["path"], labels["result"], labels["code"]] += int(sample.value)
    return counts


def produced(stream: str) -> float:
    return value("erpbi_connector_records_produced_total", stream=stream)


@pytest.fixture
def endpoint() -> Iterator[metrics.MetricsEndpoint]:
    served = metrics.MetricsEndpoint()
    yield served
    served.stop()


def test_a_sync_counts_calls_as_the_erp_answered_them_and_the_records_produced(
    app_settings: Settings,
    producer: InMemoryProducer,
    control: SimulatorControl,
    client_factory: Callable[..., JushuitanClient],
) -> None:
    source = JushuitanSource(client_factory(max_attempts=3))
    control.inject_fault(path=INVENTORY, code=199)  # "over 5 requests per second"
    control.inject_fault(path=INVENTORY, http_status=429)
    calls_before = api_calls()
    produced_before = {stream: produced(stream) for stream in STREAMS}
    duration_before = value("erpbi_api_request_duration_seconds_count", path=INVENTORY)

    totals = run_sync(app_settings, STREAMS, False, producer=producer, source=source)

    calls = api_calls() - calls_before
    assert calls[INVENTORY, "throttled", "199"] == 1
    assert calls[INVENTORY, "throttled", "http_429"] == 1
    assert calls[INVENTORY, "ok", "0"] >= 2  # two warehouses
    assert not [key for key in calls if key[1] == "error"]
    by_code: Counter[str] = Counter()
    for (_path, _result, code), count in calls.items():
        by_code[code] += count
    assert dict(by_code) == control.state()["replies_by_code"]  # one count per ERP answer
    inventory_calls = sum(n for (path, _, _), n in calls.items() if path == INVENTORY)
    duration = value("erpbi_api_request_duration_seconds_count", path=INVENTORY)
    assert duration - duration_before == inventory_calls
    for stream in STREAMS:
        assert produced(stream) - produced_before[stream] == totals[stream].records > 0
    assert totals["inventory"].records == len(producer.on_topic("erp.ods.inventory")) == 80


def test_cursor_lag_parked_windows_and_last_success_are_set_per_stream(
    app_settings: Settings, producer: InMemoryProducer, control: SimulatorControl
) -> None:
    started = time.time()
    run_sync(app_settings, STREAMS, False, producer=producer)
    for stream in STREAMS:
        state = json.loads((state_directory(app_settings) / f"{stream}.json").read_text())
        saved_at = state.get("window_end") or state["stats"]["last_modified"]
        expected = time.time() - parse_erp_time(saved_at).timestamp()
        lag = REGISTRY.get_sample_value("erpbi_connector_cursor_lag_seconds", {"stream": stream})
        assert lag is not None and abs(lag - expected) < 2.0, stream
        assert value("erpbi_connector_parked_windows", stream=stream) == 0
        success = value("erpbi_connector_last_success_timestamp_seconds", stream=stream)
        assert started <= success <= time.time()
    sku_lag = value("erpbi_connector_cursor_lag_seconds", stream="sku")
    assert sku_lag < 60  # the SKU window was read up to the start of this sync


def test_a_parked_window_shows_until_the_next_run_reads_it(
    app_settings: Settings,
    producer: InMemoryProducer,
    control: SimulatorControl,
    client_factory: Callable[..., JushuitanClient],
) -> None:
    control.inject_fault(path="/open/sku/query", http_status=503, count=2)  # both attempts
    source = JushuitanSource(client_factory(max_attempts=2))
    letters_before = value("erpbi_connector_dead_letters_total", stream="sku")
    calls_before = api_calls()
    with pytest.raises(SyncIncompleteError):
        run_sync(app_settings, ["sku"], False, producer=producer, source=source)
    assert value("erpbi_connector_parked_windows", stream="sku") == 1
    assert value("erpbi_connector_dead_letters_total", stream="sku") - letters_before == 1
    errors = {k: n for k, n in (api_calls() - calls_before).items() if k[1] == "error"}
    assert errors == {("/open/sku/query", "error", "http_503"): 2}
    run_sync(app_settings, ["sku"], False, producer=producer, source=source)
    assert value("erpbi_connector_parked_windows", stream="sku") == 0


def test_an_unreachable_erp_counts_as_network_errors(
    client_factory: Callable[..., JushuitanClient],
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again: nothing listens there
    client = client_factory(base_url=f"http://127.0.0.1:{port}", max_attempts=2)
    before = api_calls()
    with pytest.raises(RetriableTransportError):
        client.call(INVENTORY, {"page_size": 1})
    assert api_calls() - before == {("/openWeb/auth/getInitToken", "error", "network"): 2}


def test_quota_gauges_read_the_budget_at_scrape_time() -> None:
    budget = QuotaBudget(0.0, 5, 100, safety_margin_seconds=0.0)
    metrics.watch_quota(budget)
    for _ in range(3):
        budget.acquire()
    assert value("erpbi_api_quota_used", window="second") == 3
    assert value("erpbi_api_quota_used", window="minute") == 3
    assert value("erpbi_api_quota_allowed", window="second") == 5
    assert value("erpbi_api_quota_allowed", window="minute") == 100
    time.sleep(1.05)
    assert value("erpbi_api_quota_used", window="second") == 0  # no stale second window
    assert value("erpbi_api_quota_used", window="minute") == 3
    metrics.watch_quota(QuotaBudget.unlimited())
    assert math.isinf(value("erpbi_api_quota_allowed", window="minute"))


def test_the_served_text_parses_and_carries_every_connector_series(
    app_settings: Settings,
    producer: InMemoryProducer,
    control: SimulatorControl,
    endpoint: metrics.MetricsEndpoint,
) -> None:
    run_sync(app_settings, STREAMS, False, producer=producer)
    port = endpoint.start(0)
    assert port is not None and endpoint.start(0) == port  # started once
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    samples: dict[str, list[Any]] = {}
    for family in families.values():
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    for series in CONNECTOR_SERIES:
        name = series + "_count" if series.endswith("duration_seconds") else series
        assert name in samples, series
    assert families["erpbi_api_request_duration_seconds"].type == "histogram"
    assert families["erpbi_api_requests"].type == "counter"
    streams = {s.labels["stream"] for s in samples["erpbi_connector_cursor_lag_seconds"]}
    assert set(STREAMS) <= streams
    windows = {s.labels["window"] for s in samples["erpbi_api_quota_used"]}
    assert windows == {"second", "minute"}
    minute = [s.value for s in samples["erpbi_api_quota_used"] if s.labels["window"] == "minute"]
    assert minute[0] > 0  # this sync's calls, read from the shared ledger


def test_a_taken_port_is_logged_and_not_raised(
    endpoint: metrics.MetricsEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="connectors.metrics"):
            assert endpoint.start(port) is None
    assert f"cannot serve connector metrics on 127.0.0.1:{port}" in caplog.text


@pytest.mark.parametrize("follow", [True, False])
def test_only_a_following_sync_opens_the_metrics_port(
    follow: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from erpbi import cli

    served: list[int] = []
    synced: list[bool] = []
    monkeypatch.setattr(metrics, "serve", lambda port, addr="127.0.0.1": served.append(port))
    monkeypatch.setattr("connectors.cli.run_sync", lambda *a, **k: synced.append(k["follow"]))
    monkeypatch.setattr(cli, "_stop_on_signals", lambda stop: None)
    argv = ["sync", "inventory"] + (["--follow"] if follow else [])
    assert cli.main(argv) == 0
    assert synced == [follow]
    assert served == ([load_settings().monitoring.connector_port] if follow else [])


@pytest.mark.parametrize("follow", [True, False])
def test_python_m_connectors_serves_metrics_only_when_following(
    follow: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors import cli

    served: list[int] = []
    monkeypatch.setattr(metrics, "serve", lambda port, addr="127.0.0.1": served.append(port))
    monkeypatch.setattr(cli, "run_sync", lambda *a, **k: {})
    monkeypatch.setattr(cli, "build_source", lambda *a, **k: None)
    monkeypatch.setattr(signal, "signal", lambda *a: None)
    assert cli.main(["sync", "--stream", "inventory"] + (["--follow"] if follow else [])) == 0
    assert served == ([load_settings().monitoring.connector_port] if follow else [])
