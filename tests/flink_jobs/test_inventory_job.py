"""The inventory Flink job on real Kafka, real Flink (MiniCluster) and the ClickHouse engine:
cleaning rules, dedupe of repeated and out-of-order versions, late dimensions re-widened,
bad records dead-lettered with a reason."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from flink_support import poll
from kafka import KafkaConsumer

from common.settings import Settings

pytestmark = pytest.mark.integration


def inventory(sku_id: str, ts: int, qty: int, **fields: Any) -> dict[str, Any]:
    row = {"sku_id": sku_id, "wms_co_id": 1, "i_id": "STYLE", "name": "erp name", "qty": qty,
           "order_lock": 0, "virtual_qty": 0, "lock_qty": 0, "modified": "2026-11-22 10:00:00",
           "ts": ts}
    row.update(fields)
    return row


def row_of(warehouse: Client, sku_id: str) -> dict[str, Any] | None:
    result = warehouse.query(
        "SELECT * FROM dws_inventory FINAL WHERE sku_id = {s:String}", parameters={"s": sku_id}
    )
    rows = list(result.named_results())
    return rows[0] if rows else None


def test_negative_quantities_are_flagged_not_dropped(producer: Any, warehouse: Client) -> None:
    producer("inventory", inventory("NEG-1", 10, -5, order_lock=2))
    row = poll(lambda: row_of(warehouse, "NEG-1"))
    assert row is not None
    assert row["qty"] == -5
    assert row["is_anomaly"] == 1
    assert "negative qty" in row["anomaly_reason"]
    assert row["available_qty"] == -5 + 0 - 2 - 0
    shanghai = warehouse.query(
        "SELECT toString(modified) FROM dws_inventory FINAL WHERE sku_id = 'NEG-1'"
    ).result_rows[0][0]
    assert shanghai == "2026-11-22 10:00:00"


def test_repeated_and_out_of_order_versions_collapse_to_the_latest(
    producer: Any, warehouse: Client
) -> None:
    for ts, qty in ((100, 1), (300, 3), (300, 3), (200, 2)):
        producer("inventory", inventory("DEDUPE-1", ts, qty))
    producer("inventory", inventory("DEDUPE-MARK", 1, 1))  # arrives after all versions
    poll(lambda: row_of(warehouse, "DEDUPE-MARK"))
    row = row_of(warehouse, "DEDUPE-1")
    assert row is not None and (row["ts"], row["qty"]) == (300, 3)
    count = warehouse.query(
        "SELECT count() FROM dws_inventory FINAL WHERE sku_id = 'DEDUPE-1'"
    ).result_rows[0][0]
    assert count == 1


def test_fact_with_late_dimension_lands_unknown_then_is_rewidened(
    producer: Any, warehouse: Client
) -> None:
    producer("inventory", inventory("LATE-1", 5, 40))
    first = poll(lambda: row_of(warehouse, "LATE-1"))
    assert first is not None and first["dim_status"] == "unknown_sku"
    assert first["sku_name"] == "erp name"

    producer("sku", {"sku_id": "LATE-1", "name": "羊毛大衣", "category": "外套", "brand": "森屿",
                     "cost_price": "120.50", "modified": "2026-11-22 10:05:00"},
             {"sku_id": "LATE-1"})
    producer("warehouse", {"wms_co_id": 1, "name": "杭州仓", "province": "浙江"}, {"wms_co_id": 1})
    widened = poll(lambda: (row := row_of(warehouse, "LATE-1")) and row["dim_status"] == "ok"
                   and row["province"] == "浙江" and row)
    assert widened, "the late SKU/warehouse dimension never re-widened the fact"
    assert (widened["sku_name"], widened["category"], widened["brand"]) == (
        "羊毛大衣",
        "外套",
        "森屿",
    )
    assert widened["warehouse_name"] == "杭州仓"
    assert str(widened["stock_value"]) == "4820.0000"

    producer("sku", {"sku_id": "LATE-1", "name": "羊毛大衣", "category": "大衣", "brand": "森屿",
                     "cost_price": "120.50", "modified": "2026-11-22 11:00:00"},
             {"sku_id": "LATE-1"})
    moved = poll(lambda: (row := row_of(warehouse, "LATE-1")) and row["category"] == "大衣")
    assert moved, "a category move did not reach the wide table"


def test_bad_records_go_to_the_dead_letter_topic_with_a_reason(
    producer: Any, job_settings: Settings
) -> None:
    # A JSON document in GBK (a producer that does not write UTF-8): once decoded it looks
    # like a JSON object, but the JSON source drops it; it must not vanish.
    gbk = json.dumps(inventory("BAD-GBK", 1, 1, name="冬季羽绒服"), ensure_ascii=False)
    producer("inventory", gbk.encode("gbk"), key={"sku_id": "BAD-GBK"})
    producer("inventory", b"{not json")
    producer("inventory", json.dumps({"wms_co_id": 1, "qty": 1, "ts": 1}).encode())
    producer("inventory", inventory("BAD-QTY", 1, "many"))  # type: ignore[arg-type]
    producer("inventory", inventory("BAD-TIME", 1, 0, modified="yesterday"))
    consumer = KafkaConsumer(
        job_settings.kafka.topic("dlq", "inventory"),
        bootstrap_servers=job_settings.kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
    )
    letters: dict[str, dict[str, Any]] = {}

    def collect() -> bool:
        for message in consumer:
            letter = json.loads(message.value)
            letters[letter["payload"]] = letter
        return len(letters) >= 5

    assert poll(collect), f"dead letters seen: {list(letters)}"
    consumer.close()
    assert sorted(letter["reason"] for letter in letters.values()) == sorted([
        "not UTF-8",
        "not a JSON object",
        "missing sku_id",
        "non-numeric qty",
        "malformed modified (want yyyy-MM-dd HH:mm:ss)",
    ])  # fmt: skip
    assert all(letter_payload for letter_payload in letters)
    # every letter says where its record is; an unreadable one also keeps its exact bytes
    topic = job_settings.kafka.topic("ods", "inventory")
    assert all(letter["topic"] == topic and letter["offset"] >= 0 and letter["partition"] >= 0
               for letter in letters.values()), letters  # fmt: skip
    gbk_letter = next(letter for letter in letters.values() if letter["reason"] == "not UTF-8")
    assert base64.b64decode(gbk_letter["original"]) == gbk.encode("gbk")
    assert json.loads(base64.b64decode(gbk_letter["key"])) == {"sku_id": "BAD-GBK"}
