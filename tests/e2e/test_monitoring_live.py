"""Monitoring on the real stack: every service's /metrics, a real Prometheus scraping them
and evaluating monitoring/rules, Alertmanager relaying to the alert service, a local Feishu
receiver, and screen 8's figures in the warehouse.

The e2e stack loads a copy of the rules whose `for` durations are shortened
(conftest.py: e2e_rules_dir), so a stuck pipeline pages within this test's patience;
thresholds and expressions are the repo's.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from prometheus_client.parser import text_string_to_metric_families
from test_inventory_slice import poll

from common.settings import Settings
from erp_simulator.control import SimulatorControl
from erpbi import stack
from erpbi.monitoring import prometheus_url, scrape_targets
from testkit.alert_process import AlertProcess
from testkit.chat_receivers import ChatReceivers

pytestmark = [pytest.mark.e2e, pytest.mark.drill]

NAMED_SERIES = {
    "connector": {"erpbi_api_requests", "erpbi_api_request_duration_seconds",
                  "erpbi_api_quota_used", "erpbi_api_quota_allowed",
                  "erpbi_connector_cursor_lag_seconds", "erpbi_connector_records_produced"},
    "pipeline": {"erpbi_flink_up", "erpbi_flink_records_in", "erpbi_flink_records_out",
                 "erpbi_flink_checkpoints", "erpbi_kafka_consumer_lag_messages",
                 "erpbi_stream_freshness_seconds", "erpbi_monitor_source_up"},
    "warehouse": {"erpbi_warehouse_query_duration_seconds", "erpbi_warehouse_connections_in_use",
                  "erpbi_warehouse_rows_inserted"},
    "superset": {"erpbi_superset_request_duration_seconds"},
    "alerter": {"erpbi_alert_evaluations", "erpbi_alert_notifications"},
    "pusher": {"erpbi_push_runs"},
    "recorder": {"erpbi_recorder_rows_written", "erpbi_recorder_last_success_timestamp_seconds"},
}  # fmt: skip
STORM_SECONDS = 60.0


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def prometheus_query(settings: Settings, promql: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"query": promql})
    return list(get_json(f"{prometheus_url(settings)}/api/v1/query?{query}")["data"]["result"])


def firing(settings: Settings, alertname: str) -> list[dict[str, Any]]:
    return prometheus_query(settings, f'ALERTS{{alertname="{alertname}",alertstate="firing"}}')


def test_every_service_serves_its_named_series(running_stack: Settings) -> None:
    targets = scrape_targets(running_stack)
    for job, wanted in NAMED_SERIES.items():
        target, path = targets[job]
        with urllib.request.urlopen(f"http://{target}{path}", timeout=10) as answer:
            text = answer.read().decode()
        names = {family.name for family in text_string_to_metric_families(text)}
        assert wanted <= names, f"{job} lacks {sorted(wanted - names)}"


def test_prometheus_scrapes_every_service_and_screen_8_follows_within_30_s(
    running_stack: Settings, warehouse: Client
) -> None:
    def all_up() -> bool:
        targets = get_json(f"{prometheus_url(running_stack)}/api/v1/targets")["data"]
        health = {t["labels"]["job"]: t["health"] for t in targets["activeTargets"]}
        return all(health.get(job) == "up" for job in NAMED_SERIES)

    assert poll(all_up, 60, interval=1), "Prometheus does not scrape every service"

    def recorded_lag() -> float | None:
        """Seconds since the newest row screen 8 can read; None while there is none."""
        rows = warehouse.query(
            "SELECT count(), dateDiff('second', max(ts), now()) FROM ops_metrics "
            "WHERE metric IN ('stream_freshness_seconds', 'service_up')").result_rows  # fmt: skip
        return float(rows[0][1]) if rows and rows[0][0] else None

    assert poll(lambda: recorded_lag() is not None, 60, interval=1)
    lag = recorded_lag()
    assert lag is not None and lag <= 30, f"screen 8's figures are {lag} s behind"
    services = dict(warehouse.query("SELECT label, value FROM ops_metrics_latest "
                                    "WHERE metric = 'service_up'").result_rows)  # fmt: skip
    assert all(services.get(job) == 1 for job in NAMED_SERIES), services


@pytest.fixture
def relaying_alerter(
    running_stack: Settings, receivers: ChatReceivers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlertProcess]:
    """The alert service with its Feishu robot pointed at the local receiver, on the port
    Alertmanager relays to (the stack's own alerter steps aside meanwhile)."""
    stack.down(running_stack, ["alerter"], report=lambda _: None)
    state = tmp_path_factory.mktemp("ops-alerts") / "alerts.sqlite"
    process = AlertProcess(running_stack, receivers, state, every_seconds=3.0)
    process.start()
    yield process
    process.stop()
    stack.up(running_stack, ["alerter"], report=lambda _: None)


def ops_cards(receivers: ChatReceivers, start: int, *words: str) -> list[str]:
    cards = [str(a.body["card"]) for a in receivers.received["feishu"][start:]]
    return [c for c in cards if all(word in c for word in words)]


def test_a_429_storm_shows_on_screen_8_and_pages_through_alertmanager_then_resolves(
    running_stack: Settings, relaying_alerter: AlertProcess, receivers: ChatReceivers,
    erp: SimulatorControl, warehouse: Client,
) -> None:  # fmt: skip
    start = len(receivers.received["feishu"])
    began = time.monotonic()
    erp.storm(STORM_SECONDS, http_status=429, retry_after=1.0)

    def throttle_on_screen() -> float:
        rows = warehouse.query("SELECT value FROM ops_metrics_latest "
                               "WHERE metric = 'api_throttle_ratio'").result_rows  # fmt: skip
        return float(rows[0][0]) if rows and rows[0][0] > 0.05 else 0.0

    assert poll(throttle_on_screen, STORM_SECONDS + 30, interval=1), "screen 8 missed the storm"
    assert poll(lambda: ops_cards(receivers, start, "聚水潭接口限流", "被限流"), 150, interval=1), (
        "no Feishu card for the 429 storm through Alertmanager"
    )
    print(f"storm -> Feishu card: {time.monotonic() - began:.0f} s")
    assert poll(lambda: ops_cards(receivers, start, "聚水潭接口限流", "已恢复"), 240, interval=1), (
        "the throttling alert did not resolve after the storm"
    )
    assert len(ops_cards(receivers, start, "聚水潭接口限流", "告警 1 项")) == 1
    print(f"storm -> resolved card: {time.monotonic() - began:.0f} s")


def test_stopping_the_flink_job_grows_freshness_and_fires_the_freshness_alert(
    running_stack: Settings, erp: SimulatorControl
) -> None:
    def freshness() -> float | None:
        rows = prometheus_query(running_stack,
                                'erpbi_stream_freshness_seconds{stream="inventory"}')  # fmt: skip
        return float(rows[0]["value"][1]) if rows else None

    # The last SKU, put back afterwards: the screen tests pick the first well-stocked ones.
    sku = max(row["sku_id"] for row in erp.skus())
    wms = int(erp.warehouses()[-1]["wms_co_id"])
    original = next(row for row in erp.inventory(wms) if row["sku_id"] == sku)
    erp.set_inventory(sku, wms, qty=321)  # lands: freshness starts near 0
    assert poll(lambda: (f := freshness()) is not None and f < 30, 90, interval=1)
    stack.down(running_stack, ["flink-pipeline"], report=lambda _: None)
    try:
        assert poll(lambda: prometheus_query(running_stack, "max(erpbi_flink_up) == 0"), 60, 1)
        first = freshness()
        qty = 400

        def changes_keep_coming_and_it_fires() -> list[dict[str, Any]]:
            nonlocal qty
            qty += 1
            erp.set_inventory(sku, wms, qty=qty)  # the connector keeps producing
            return firing(running_stack, "stream_freshness")

        fired = poll(changes_keep_coming_and_it_fires, 300, interval=5)
        assert fired, "stream_freshness did not fire with the Flink job stopped"
        assert {alert["metric"]["stream"] for alert in fired} >= {"inventory"}
        later = freshness()
        assert first is not None and later is not None and later > first + 60
        assert firing(running_stack, "flink_job_down")
    finally:
        erp.set_inventory(sku, wms, qty=original["qty"])
        stack.up(running_stack, ["flink-pipeline"], report=lambda _: None)
