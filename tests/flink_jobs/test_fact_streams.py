"""Outbound, after-sale and received documents through the real pipeline: document and item
tables, zh-CN status labels, GMT+8 times, shop sheet widening, versions, dead letters."""

from __future__ import annotations

import json
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from flink_support import poll
from kafka import KafkaConsumer

from common.settings import Settings

pytestmark = pytest.mark.integration


def outbound(io_id: str, ts: int, status: str = "Confirmed", **fields: Any) -> dict[str, Any]:
    document = {
        "io_id": io_id, "o_id": f"O{io_id}", "so_id": f"SO{io_id}", "co_id": 1, "shop_id": 501,
        "shop_name": "", "created": "2026-11-22 09:00:00", "modified": "2026-11-22 09:30:00",
        "status": status, "pay_amount": "199.00", "paid_amount": "199.00", "free_amount": "20",
        "freight": "10", "io_date": "2026-11-22 09:30:00", "wms_co_id": 1, "ts": ts,
        "logistics_company": "顺丰速运", "pay_date": "2026-11-22 08:59:00",
        "items": [
            {"ioi_id": f"{io_id}-1", "sku_id": "FACT-SKU-1", "qty": 2, "sale_price": "50",
             "sale_amount": "100", "name": "erp item name"},
            {"ioi_id": f"{io_id}-2", "sku_id": "FACT-SKU-NEW", "qty": 1, "sale_price": "99",
             "sale_amount": "99"},
        ],
    }  # fmt: skip
    document.update(fields)
    return document


def rows(warehouse: Client, query: str, **parameters: Any) -> list[dict[str, Any]]:
    return list(warehouse.query(query, parameters=parameters).named_results())


@pytest.fixture(scope="module")
def dimensions(producer: Any) -> None:
    producer("sku", {"sku_id": "FACT-SKU-1", "name": "纯棉T恤", "category": "上衣", "brand": "青禾",
                     "cost_price": "30", "modified": "2026-11-01 00:00:00", "_ingested_at": 1},
             {"sku_id": "FACT-SKU-1"})  # fmt: skip
    producer("shop", {"shop_id": 501, "shop_name": "青禾旗舰店", "shop_site": "天猫", "nick": "qh",
                      "_ingested_at": 1}, {"shop_id": 501})  # fmt: skip
    producer("shop_sheet", {"shop_id": 501, "owner": "alice", "region": "华东",
                            "platform_fee_rate": "0.05", "_ingested_at": 2}, {"shop_id": 501})


def test_outbound_document_and_items_are_widened_and_labelled(
    producer: Any, warehouse: Client, dimensions: None
) -> None:
    producer("outbound", outbound("IO-100", ts=1000, status="WaitConfirm"))
    producer("outbound", outbound("IO-100", ts=1200, status="Confirmed"))
    producer("outbound", outbound("IO-100", ts=1100, status="Cancelled"))  # late, older version
    document = poll(lambda: rows(
        warehouse, "SELECT *, toString(io_date) AS io_date_text FROM dwd_sale_out FINAL "
        "WHERE io_id = 'IO-100' AND platform = '天猫' AND ts = 1200"))
    assert document, "outbound document never landed widened"
    (doc,) = document
    assert (doc["status"], doc["status_label"]) == ("Confirmed", "已出库")
    assert doc["shop_name"] == "青禾旗舰店"
    assert (doc["shop_owner"], doc["shop_region"], str(doc["platform_fee_rate"])) == (
        "alice", "华东", "0.050000")
    assert doc["io_date_text"] == "2026-11-22 09:30:00"
    assert str(doc["pay_amount"]) == "199.0000" and str(doc["free_amount"]) == "20.0000"

    items = poll(lambda: rows(
        warehouse, "SELECT * FROM dwd_sale_out_item FINAL WHERE io_id = 'IO-100' AND ts = 1200 "
        "ORDER BY ioi_id"))
    assert [item["sku_id"] for item in items] == ["FACT-SKU-1", "FACT-SKU-NEW"]
    known, unknown = items
    assert (known["sku_name"], known["category"], known["dim_gaps"]) == ("纯棉T恤", "上衣", "")
    assert known["status_label"] == "已出库" and known["shop_owner"] == "alice"
    assert unknown["dim_gaps"] == "unknown_sku"


def test_item_with_late_sku_is_rewidened(
    producer: Any, warehouse: Client, dimensions: None
) -> None:
    producer("outbound", outbound("IO-200", ts=2000))
    assert poll(lambda: rows(warehouse, "SELECT 1 FROM dwd_sale_out_item FINAL "
                             "WHERE io_id = 'IO-200' AND sku_id = 'FACT-SKU-NEW'"))
    producer("sku", {"sku_id": "FACT-SKU-NEW", "name": "羽绒服", "category": "外套",
                     "brand": "森屿", "cost_price": "300", "modified": "2026-11-22 10:00:00",
                     "_ingested_at": 3}, {"sku_id": "FACT-SKU-NEW"})  # fmt: skip
    widened = poll(lambda: rows(
        warehouse, "SELECT category, dim_gaps FROM dwd_sale_out_item FINAL "
        "WHERE io_id = 'IO-200' AND sku_id = 'FACT-SKU-NEW' AND category = '外套'"))
    assert widened and widened[0]["dim_gaps"] == ""


def test_refund_labels_and_items(producer: Any, warehouse: Client, dimensions: None) -> None:
    producer("refund", {
        "as_id": "AS-1", "as_date": "2026-11-22 11:00:00", "o_id": "OIO-100", "type": "普通退货",
        "created": "2026-11-22 11:00:00", "modified": "2026-11-22 11:05:00", "status": "Confirmed",
        "confirm_date": "2026-11-22 12:00:00", "good_status": "BUYER_RETURNED_GOODS",
        "refund": "50", "shop_id": 501, "wms_co_id": 1, "ts": 77, "question_type": "尺码不合适",
        "items": [{"asi_id": "AS-1-1", "sku_id": "FACT-SKU-1", "qty": 1, "r_qty": 1,
                   "amount": "50", "type": "退货"}],
    })  # fmt: skip
    document = poll(lambda: rows(warehouse, "SELECT * FROM dwd_refund FINAL WHERE as_id = 'AS-1'"))
    assert document
    assert (document[0]["status_label"], document[0]["good_status_label"]) == (
        "已确认",
        "买家已退货",
    )
    assert document[0]["question_type"] == "尺码不合适"
    items = poll(
        lambda: rows(warehouse, "SELECT * FROM dwd_refund_item FINAL WHERE as_id = 'AS-1'")
    )
    assert items and items[0]["category"] == "上衣" and items[0]["r_qty"] == 1


def test_received_document_maps_warehouse_kind(producer: Any, warehouse: Client) -> None:
    producer("aftersale_received", {
        "io_id": "RCV-1", "as_id": "AS-1", "io_date": "2026-11-22 15:00:00", "wh_id": 2,
        "modified": "2026-11-22 15:00:00", "shop_id": 501, "ts": 5, "wms_co_id": 1,
        "items": [{"ioi_id": "RCV-1-1", "sku_id": "FACT-SKU-1", "qty": 1}],
    })  # fmt: skip
    document = poll(lambda: rows(warehouse, "SELECT wh_id_label FROM dwd_aftersale_received FINAL "
                                 "WHERE io_id = 'RCV-1'"))
    assert document and document[0]["wh_id_label"] == "销退仓"
    assert poll(lambda: rows(warehouse, "SELECT 1 FROM dwd_aftersale_received_item FINAL "
                             "WHERE io_id = 'RCV-1'"))


def test_negative_item_quantity_is_flagged(producer: Any, warehouse: Client) -> None:
    document = outbound("IO-NEG", ts=5)
    document["items"] = [{"ioi_id": "IO-NEG-1", "sku_id": "FACT-SKU-1", "qty": -3}]
    producer("outbound", document)
    item = poll(lambda: rows(warehouse, "SELECT qty, anomaly_reason FROM dwd_sale_out_item FINAL "
                             "WHERE io_id = 'IO-NEG'"))
    assert item and item[0]["qty"] == -3 and item[0]["anomaly_reason"] == "negative qty"


def test_bad_documents_and_items_are_dead_lettered(producer: Any, job_settings: Settings) -> None:
    producer("outbound", outbound("IO-BAD-TS", ts=1, modified="not a time"))
    producer("outbound", {k: v for k, v in outbound("IO-NO-ITEMS", ts=1).items() if k != "items"})
    bad_item = outbound("IO-BAD-ITEM", ts=1)
    bad_item["items"] = [{"ioi_id": "x", "qty": 1}]
    producer("outbound", bad_item)
    consumer = KafkaConsumer(
        job_settings.kafka.topic("dlq", "outbound"),
        bootstrap_servers=job_settings.kafka.bootstrap_servers,
        auto_offset_reset="earliest", consumer_timeout_ms=1000,
    )  # fmt: skip
    reasons: dict[str, str] = {}
    positions: dict[str, tuple[str, int, int]] = {}
    payloads: dict[str, dict[str, Any]] = {}

    def collect() -> bool:
        for message in consumer:
            letter = json.loads(message.value)
            payload = json.loads(letter["payload"])
            io_id = payload["io_id"]
            reasons[io_id], payloads[io_id] = letter["reason"], payload
            positions[io_id] = (letter["topic"], letter["partition"], letter["offset"])
        return len(reasons) >= 3

    assert poll(collect), reasons
    consumer.close()
    # each letter, an item's too, says where its whole record is, so it can be replayed
    topic = job_settings.kafka.topic("ods", "outbound")
    assert all(where == topic and offset >= 0 for where, _, offset in positions.values()), (
        positions
    )
    assert len({(p, o) for _, p, o in positions.values()}) == 3, positions  # one record each
    # a document's letter rebuilds it as the job read it: items as a JSON array, not text
    assert payloads["IO-BAD-TS"]["items"][0]["sku_id"] == "FACT-SKU-1", payloads["IO-BAD-TS"]
    assert reasons["IO-BAD-TS"].startswith("malformed modified")
    assert reasons["IO-NO-ITEMS"] == "missing items array"
    assert reasons["IO-BAD-ITEM"] == "item: missing sku_id (item 1)"


def test_shop_sheet_loaded_by_cli_widens_the_shop_dimension(
    job_settings: Settings, warehouse: Client, producer: Any, tmp_path_factory: Any
) -> None:
    import subprocess
    import sys

    from common.settings import PROJECT_ROOT

    producer("shop", {"shop_id": 777, "shop_name": "森屿专营店", "shop_site": "京东",
                      "_ingested_at": 10}, {"shop_id": 777})  # fmt: skip
    sheet = tmp_path_factory.mktemp("sheet") / "shops.csv"
    sheet.write_text("shop_id,owner,region,platform_fee_rate\n777,carol,华北,0.08\n")
    result = subprocess.run(
        [sys.executable, "-m", "erpbi", "dims", "load", str(sheet)],
        env=job_settings.environment, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "loaded 1 shop" in result.stdout
    shop = poll(lambda: rows(warehouse, "SELECT * FROM dim_shop FINAL WHERE shop_id = 777 "
                             "AND shop_owner = 'carol'"))
    assert (
        shop and shop[0]["platform"] == "京东" and str(shop[0]["platform_fee_rate"]) == "0.080000"
    )
