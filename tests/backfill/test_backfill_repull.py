"""`erpbi backfill` against the ERP simulator and the real Kafka broker: a re-pulled day
carries the live sync's keys and versions, costs only its pages, and a backfill killed
with SIGKILL halfway resumes with at most one page pulled twice."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from backfill.cli import format_status, run_backfill
from backfill.days import Day
from common.settings import KafkaSettings, Settings, SimulatorSettings, load_settings
from connectors.cli import run_sync
from connectors.models import BEIJING
from erp_simulator import RunningSimulator, SimulatorControl, start_simulator
from erp_simulator.gateway import SimulatorConfig
from erpbi.processes import wait_until
from testkit.support import free_port

pytestmark = pytest.mark.integration

OUTBOUND_PATH = "/open/orders/out/simple/query"
PAGE_SIZE = 15
ORDERS = 240


@pytest.fixture
def erp() -> Iterator[tuple[RunningSimulator, SimulatorControl]]:
    settings = SimulatorSettings(seed=11, sku_count=40, warehouse_count=2, enforce_quota=False)
    simulator = start_simulator(settings, port=0, config=SimulatorConfig(enforce_quota=False))
    control = SimulatorControl(simulator.url)
    control.generate_orders(ORDERS)
    yield simulator, control
    control.close()
    simulator.stop()


@pytest.fixture
def kafka(kafka_settings: KafkaSettings) -> KafkaSettings:
    from kafka.admin import KafkaAdminClient, NewTopic  # type: ignore[import-untyped]

    kafka = kafka_settings.model_copy(update={"topic_prefix": f"bf{uuid.uuid4().hex[:8]}"})
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    try:
        admin.create_topics([NewTopic(kafka.topic(layer, "outbound"), kafka.partitions, 1)
                             for layer in ("ods", "dlq")])  # fmt: skip
    finally:
        admin.close()
    return kafka


@pytest.fixture
def settings(erp: tuple[RunningSimulator, SimulatorControl], kafka: KafkaSettings,
             tmp_path: Path) -> Settings:  # fmt: skip
    base = load_settings()
    return base.model_copy(update={
        "jushuitan": erp[0].jushuitan_settings(
            min_call_interval_seconds=0.0, page_size=PAGE_SIZE, requests_per_second=10_000,
            requests_per_minute=1_000_000, quota_ledger_dir=tmp_path / "quota"),
        "kafka": kafka,
        "paths": base.paths.model_copy(update={"run_dir": tmp_path / "run"}),
    })  # fmt: skip


def today() -> Day:
    return Day(datetime.now(BEIJING).date())


def topic_records(kafka: KafkaSettings) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    from kafka import KafkaConsumer  # type: ignore[import-untyped]

    consumer = KafkaConsumer(
        kafka.topic("ods", "outbound"), bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=5000,
        group_id=None,
    )  # fmt: skip
    try:
        return [(json.loads(m.key), json.loads(m.value)) for m in consumer]
    finally:
        consumer.close()


def without_ingest_time(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != "_ingested_at"}


def outbound_calls(control: SimulatorControl) -> int:
    return int(control.state()["requests_by_path"].get(OUTBOUND_PATH, 0))


def test_a_re_pulled_day_lands_with_the_live_keys_and_versions_for_its_pages_only(
    settings: Settings, erp: tuple[RunningSimulator, SimulatorControl], kafka: KafkaSettings
) -> None:
    control = erp[1]
    documents = control.outbound()
    assert len(documents) >= ORDERS // 2
    run_sync(settings, ["outbound"], False)  # the live sync's records
    live = {json.dumps(k, sort_keys=True): without_ingest_time(v) for k, v in topic_records(kafka)}
    assert len(live) == len(documents)
    before = outbound_calls(control)

    totals = run_backfill(settings, ["outbound"], [today()], show_progress=False)

    calls = outbound_calls(control) - before
    assert calls == totals.calls == math.ceil(len(documents) / PAGE_SIZE)
    records = topic_records(kafka)
    assert len(records) == 2 * len(documents)  # every document once more, nothing else
    for key, value in records:
        assert live[json.dumps(key, sort_keys=True)] == without_ingest_time(value)
    assert "完成" in format_status(settings)
    again = run_backfill(settings, ["outbound"], [today()], show_progress=False)
    assert again.calls == 0 and outbound_calls(control) - before == calls  # done is done


def backfill_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ERPBI_")}
    env.update({
        "ERPBI_JUSHUITAN__BASE_URL": settings.jushuitan.base_url,
        "ERPBI_JUSHUITAN__PAGE_SIZE": str(PAGE_SIZE),
        "ERPBI_JUSHUITAN__MIN_CALL_INTERVAL_SECONDS": "0.15",  # slow enough to stop halfway
        "ERPBI_JUSHUITAN__QUOTA_LEDGER_DIR": str(settings.jushuitan.quota_ledger_dir),
        "ERPBI_KAFKA__HOST": settings.kafka.host,
        "ERPBI_KAFKA__PORT": str(settings.kafka.port),
        "ERPBI_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "ERPBI_PATHS__RUN_DIR": str(settings.paths.run_dir),
        "ERPBI_MONITORING__CONNECTOR_PORT": str(free_port()),
    })  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "erpbi", "backfill", "--stream", "outbound", "--from",
         str(today())], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def pages_saved(settings: Settings) -> int:
    path = settings.paths.data_dir / "backfill" / "outbound.json"
    if not path.exists():
        return 0
    days = json.loads(path.read_text()).get("days", {})
    return sum(int(day.get("pages", 0)) for day in days.values())


def test_a_backfill_killed_halfway_resumes_and_pulls_at_most_one_page_twice(
    settings: Settings, erp: tuple[RunningSimulator, SimulatorControl], kafka: KafkaSettings
) -> None:
    control = erp[1]
    documents = control.outbound()
    pages = math.ceil(len(documents) / PAGE_SIZE)
    first = backfill_process(settings)
    try:
        halfway = wait_until(lambda: pages_saved(settings) >= pages // 2, 60, 0.02)
    finally:
        first.send_signal(signal.SIGKILL)
        output, _ = first.communicate(timeout=30)
    assert halfway, output.decode()
    assert pages_saved(settings) < pages, "the first run finished before it was killed"
    second = backfill_process(settings)
    output, _ = second.communicate(timeout=120)
    assert second.returncode == 0, output.decode()
    assert "回补完成" in output.decode()
    assert outbound_calls(control) <= pages + 1  # the page in flight at the kill, at most
    keys = {key["io_id"] for key, _ in topic_records(kafka)}
    assert keys == {row["io_id"] for row in documents}
