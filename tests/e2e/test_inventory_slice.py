"""The inventory slice through every real component: ERP simulator -> connector -> Kafka ->
Flink -> ClickHouse engine -> Superset, started exactly as `erpbi up` starts it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client
from kafka import KafkaConsumer, TopicPartition

from common.settings import Settings
from dashboards.provision import chart_data
from erp_simulator.control import SimulatorControl
from erpbi import stack
from erpbi.processes import wait_until
from erpbi.services import by_name

T = TypeVar("T")
FRESHNESS_DEADLINE_SECONDS = 60.0
INITIAL_LOAD_DEADLINE_SECONDS = 420.0


def poll(probe: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T | None:
    """Return the first truthy answer of ``probe`` within ``timeout`` seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def warehouse_row(warehouse: Client, sku_id: str, wms_co_id: int) -> dict[str, Any] | None:
    result = warehouse.query(
        "SELECT qty, available_qty, sku_name, category, dim_status, ts "
        "FROM dws_inventory FINAL WHERE sku_id = {sku:String} AND wms_co_id = {wms:Int64}",
        parameters={"sku": sku_id, "wms": wms_co_id},
    )
    rows = list(result.named_results())
    return rows[0] if rows else None


def erp_inventory(erp: SimulatorControl) -> dict[tuple[str, int], dict[str, Any]]:
    return {(row["sku_id"], int(row["wms_co_id"])): row for row in erp.inventory()}


def warehouse_inventory(warehouse: Client) -> dict[tuple[str, int], dict[str, Any]]:
    result = warehouse.query("SELECT sku_id, wms_co_id, qty, ts FROM dws_inventory FINAL")
    return {(row["sku_id"], int(row["wms_co_id"])): row for row in result.named_results()}


def matches_erp(erp: SimulatorControl, warehouse: Client) -> bool:
    expected = erp_inventory(erp)
    actual = warehouse_inventory(warehouse)
    return expected.keys() == actual.keys() and all(
        actual[key]["qty"] == row["qty"] and actual[key]["ts"] == int(row["ts"])
        for key, row in expected.items()
    )


def caught_up(erp: SimulatorControl, warehouse: Client) -> bool:
    """Every ERP inventory row is in the warehouse at its latest version, fully widened."""
    unknown = warehouse.query(
        "SELECT count() FROM dws_inventory FINAL WHERE dim_status != 'ok'"
    ).result_rows[0][0]
    return unknown == 0 and matches_erp(erp, warehouse)


def category_available(settings: Settings, category: str) -> int | None:
    for row in chart_data(settings, "各类目可用库存"):
        if row.get("类目") == category:
            return int(row["可用库存"])
    return None


def test_stock_change_is_widened_in_warehouse_and_chart_within_a_minute(
    running_stack: Settings, erp: SimulatorControl, warehouse: Client
) -> None:
    sku = erp.skus()[7]
    wms_co_id = int(erp.warehouses()[0]["wms_co_id"])
    # The initial load (every SKU window, every warehouse) is quota-bound: the freshness
    # clock starts once the pipeline has caught up with the ERP, as in steady operation.
    assert poll(lambda: caught_up(erp, warehouse), INITIAL_LOAD_DEADLINE_SECONDS), (
        "the initial load never caught up with the ERP"
    )
    new_qty = 98765
    changed_at = time.monotonic()
    erp.set_inventory(sku["sku_id"], wms_co_id, qty=new_qty)

    landed = poll(
        lambda: (
            (row := warehouse_row(warehouse, sku["sku_id"], wms_co_id))
            and row["qty"] == new_qty
            and row
        ),
        FRESHNESS_DEADLINE_SECONDS,
    )
    assert landed, "the new stock did not reach dws_inventory within 60 s"
    assert landed["sku_name"] == sku["name"]
    assert landed["category"] == sku["category"]
    assert landed["dim_status"] == "ok"

    expected = warehouse.query(
        "SELECT sum(available_qty) FROM dws_inventory FINAL WHERE category = {c:String}",
        parameters={"c": sku["category"]},
    ).result_rows[0][0]
    shown = poll(
        lambda: category_available(running_stack, sku["category"]) == expected,
        FRESHNESS_DEADLINE_SECONDS - (time.monotonic() - changed_at),
        interval=1.0,
    )
    assert shown, f"chart 各类目可用库存 never showed {expected} for {sku['category']}"
    assert time.monotonic() - changed_at <= FRESHNESS_DEADLINE_SECONDS


def _end_offset(settings: Settings, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.bootstrap_servers)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def test_connector_killed_mid_sync_resumes_without_gaps_or_duplicates(
    running_stack: Settings, erp: SimulatorControl, warehouse: Client
) -> None:
    settings = running_stack
    topic = settings.kafka.topic("ods", "inventory")
    assert poll(lambda: matches_erp(erp, warehouse), INITIAL_LOAD_DEADLINE_SECONDS), (
        "stack never caught up before the test"
    )
    connector = stack.process_for(settings, by_name("connector"))
    before = _end_offset(settings, topic)
    changed = 1500
    erp.mutate(inventory=changed)

    # Kill once part of the change set is in Kafka, i.e. in the middle of the sync.
    assert wait_until(lambda: _end_offset(settings, topic) - before >= 50, 60, 0.1)
    connector.kill()
    produced_before_kill = _end_offset(settings, topic) - before
    assert produced_before_kill < changed, "sync finished before the kill: not a mid-sync crash"

    stack.start_service(settings, by_name("connector"), report=lambda line: None)
    assert poll(lambda: matches_erp(erp, warehouse), 180), "warehouse never matched the ERP"

    duplicates = warehouse.query(
        "SELECT count() FROM (SELECT sku_id, wms_co_id FROM dws_inventory FINAL "
        "GROUP BY sku_id, wms_co_id HAVING count() > 1)"
    ).result_rows[0][0]
    assert duplicates == 0
    total = warehouse.query("SELECT count() FROM dws_inventory FINAL").result_rows[0][0]
    assert total == len(erp.inventory())
