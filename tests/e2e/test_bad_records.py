"""One record the warehouse cannot hold stops nothing, on the whole stack as `erpbi up` runs it.

Copies of a real outbound document (new io_id and item ids) with a value no warehouse column
can hold are dead-lettered with a reason within a minute, while a stock change made in the
ERP at the same moment reaches dws_inventory within the usual minute; the job restarted
from its checkpoint does not stall on them either. A SKU row ClickHouse itself refuses is
split out by the sink, and `erpbi status` then says the pipeline is degraded, naming the
table and ClickHouse's error, and lists every dead letter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from kafka import KafkaConsumer, KafkaProducer
from test_inventory_slice import (
    FRESHNESS_DEADLINE_SECONDS,
    INITIAL_LOAD_DEADLINE_SECONDS,
    caught_up,
    poll,
    warehouse_row,
)

from common.settings import PROJECT_ROOT, Settings
from erp_simulator.control import SimulatorControl
from erpbi import stack
from erpbi.services import by_name
from testkit.support import dead_letters_for

pytestmark = pytest.mark.e2e

BROKEN = {
    "ts": -5,  # the reported record: _version is a UInt64
    "created": "1969-12-31 23:59:59",  # before DateTime's range: ClickHouse would clamp it
    "pay_amount": "123456789012345.5",  # past Decimal(18, 4)
    "io_date": "2026-02-30 10:00:00",  # a date Flink's parser would bend and ClickHouse refuses
}


def real_outbound_document(settings: Settings) -> dict[str, Any]:
    consumer = KafkaConsumer(
        settings.kafka.topic("ods", "outbound"), bootstrap_servers=settings.kafka.bootstrap_servers,
        auto_offset_reset="earliest", consumer_timeout_ms=5000,
    )  # fmt: skip
    try:
        for message in consumer:
            document = json.loads(message.value)
            if document.get("items") and document.get("shop_id") and int(document.get("ts", 0)) > 0:
                return dict(document)
    finally:
        consumer.close()
    raise AssertionError("no outbound document with items in Kafka")


def broken_copies(document: dict[str, Any]) -> dict[str, bytes]:
    copies = {}
    for field, value in BROKEN.items():
        io_id = f"BROKEN-{field}-{time.time_ns()}"
        items = [item | {"ioi_id": f"{io_id}-{n}"} for n, item in enumerate(document["items"])]
        copies[io_id] = json.dumps(document | {"io_id": io_id, "items": items, field: value},
                                   ensure_ascii=False).encode()  # fmt: skip
    return copies


def dead_letter_reasons(settings: Settings, stream: str, ids: set[str], key: str) -> dict[str, str]:
    letters = dead_letters_for(settings, stream, ids, key)
    return {name: f"{letter['stage']}: {letter['reason']}" for name, letter in letters.items()}


def dead_letter_lines(status: str) -> list[str]:
    """The indented lines under `erpbi status`'s "dead letters in the last N min:" (the
    freshness and lag lists under it are indented too)."""
    lines, inside = [], False
    for line in status.splitlines():
        if line.startswith("dead letters in the last"):
            inside = True
        elif inside and line.startswith("  "):
            lines.append(line)
        else:
            inside = False
    return lines


def erpbi_status(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "erpbi", "status"], env=settings.environment, cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def stock_lands(
    erp: SimulatorControl, warehouse: Client, sku_id: str, wms_co_id: int, qty: int
) -> float:
    changed = time.monotonic()
    erp.set_inventory(sku_id, wms_co_id, qty=qty)
    landed = poll(
        lambda: (row := warehouse_row(warehouse, sku_id, wms_co_id)) and row["qty"] == qty,
        FRESHNESS_DEADLINE_SECONDS,
    )
    assert landed, f"stock {qty} of {sku_id} did not reach dws_inventory within a minute"
    return time.monotonic() - changed


def test_bad_records_are_dead_lettered_and_stop_nothing(
    running_stack: Settings, erp: SimulatorControl, warehouse: Client
) -> None:
    settings = running_stack
    assert poll(lambda: caught_up(erp, warehouse), INITIAL_LOAD_DEADLINE_SECONDS), "never caught up"
    sku = erp.skus()[11]
    wms_co_id = int(erp.warehouses()[0]["wms_co_id"])
    copies = broken_copies(real_outbound_document(settings))
    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, acks="all")
    for io_id, value in copies.items():
        key = json.dumps({"io_id": io_id}).encode()
        producer.send(settings.kafka.topic("ods", "outbound"), key=key, value=value)
    producer.flush()

    stock_lands(erp, warehouse, sku["sku_id"], wms_co_id, qty=4321)
    reasons = dead_letter_reasons(settings, "outbound", set(copies), "io_id")
    assert set(reasons) == set(copies), f"dead-lettered within a minute: {reasons}"
    for io_id, reason in reasons.items():
        field = io_id.split("-")[1]
        assert reason.startswith("flink.outbound: ") and field in reason, (io_id, reason)
    assert not warehouse.query("SELECT io_id FROM dwd_sale_out WHERE io_id IN {ids:Array(String)}",
                               parameters={"ids": list(copies)}).result_rows  # fmt: skip

    # Restarted from its checkpoint, the job neither meets them again nor stalls.
    job = stack.process_for(settings, by_name("flink-pipeline"))
    job.kill()
    stack.start_service(settings, by_name("flink-pipeline"), report=lambda line: None)
    stock_lands(erp, warehouse, sku["sku_id"], wms_co_id, qty=4322)

    # A row ClickHouse refuses (the SKU dimension goes to the warehouse as the ERP sends it).
    bad_sku = f"BROKEN-SKU-{time.time_ns()}"
    row = {"sku_id": bad_sku, "name": "坏数据", "_ingested_at": 1}
    row["modified"] = "2026-02-30 10:00:00"
    key = json.dumps({"sku_id": bad_sku}).encode()
    producer.send(settings.kafka.topic("ods", "sku"), key=key, value=json.dumps(row).encode())
    producer.flush()
    producer.close()
    refused = dead_letter_reasons(settings, "sku", {bad_sku}, "sku_id")
    assert (
        refused[bad_sku].startswith("clickhouse.dim_sku: HTTP ") and "Code: 41." in refused[bad_sku]
    )

    status = erpbi_status(settings)
    assert status.returncode == 3, status.stdout
    pipeline = next(line for line in status.stdout.splitlines() if line.startswith("pipeline"))
    assert "degraded" in pipeline and "rows refused by ClickHouse" in pipeline, status.stdout
    listed = {line.split()[0] + " " + line.split()[1]: int(line.split()[2])
              for line in dead_letter_lines(status.stdout)}  # fmt: skip
    assert listed.get("outbound flink.outbound", 0) >= len(copies), status.stdout
    assert listed.get("sku clickhouse.dim_sku", 0) >= 1, status.stdout
    assert "Code: 41." in status.stdout
