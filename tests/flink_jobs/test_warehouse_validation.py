"""Records the warehouse cannot hold never stall the pipeline.

The job refuses, with a reason, every value a target column cannot hold (checks derived
from the DDL); a row that still reaches ClickHouse and is refused there (here: the SKU
dimension, which the job passes through as the ERP sends it) is found by the sink by
splitting its batch and dead-lettered with ClickHouse's own error, while everything else,
inventory included, keeps landing.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from flink_support import poll
from test_fact_streams import outbound

from common.settings import Settings
from testkit.support import dead_letters_for

pytestmark = pytest.mark.integration

BAD_OUTBOUND = {
    "IO-NEG-TS": {"ts": -5},  # the reported case: UInt64 _version refused with code 72
    "IO-1969": {"created": "1969-12-31 23:59:59"},  # ClickHouse would clamp it to 1970
    "IO-2200": {"io_date": "2200-01-01 00:00:00"},  # ClickHouse would clamp it to 2106
    "IO-OVERFLOW": {"pay_amount": "123456789012345.5"},  # past Decimal(18, 4)
    "IO-FEB-30": {"modified": "2026-02-30 10:00:00"},  # ClickHouse refuses it (code 41)
    "IO-HOUR-24": {"pay_date": "2026-02-10 24:00:00"},  # ClickHouse would roll it to the next day
}


def dead_letters(settings: Settings, stream: str, wanted: set[str], key: str) -> dict[str, Any]:
    found = dead_letters_for(settings, stream, wanted, key)
    assert set(found) == wanted, f"dead letters after 60 s: {sorted(found)} of {sorted(wanted)}"
    return found


def test_values_the_warehouse_cannot_hold_are_dead_lettered_while_inventory_lands(
    producer: Any, warehouse: Client, job_settings: Settings
) -> None:
    for io_id, bad in BAD_OUTBOUND.items():
        producer("outbound", outbound(io_id, **({"ts": 10} | bad)))
    producer("outbound", outbound("IO-GOOD-NEIGHBOUR", ts=10))
    sent = time.monotonic()
    producer(
        "inventory",
        {
            "sku_id": "VALID-SKU",
            "wms_co_id": 7,
            "qty": 41,
            "ts": 77,
            "modified": "2026-11-22 10:00:00",
        },
        {"sku_id": "VALID-SKU", "wms_co_id": 7},
    )

    stock = poll(
        lambda: (
            warehouse.query(
                "SELECT qty FROM dws_inventory FINAL WHERE sku_id = 'VALID-SKU' AND wms_co_id = 7"
            ).result_rows
        )
    )
    assert stock == [(41,)]
    assert time.monotonic() - sent < 30, "inventory waited behind the bad documents"

    letters = dead_letters(job_settings, "outbound", set(BAD_OUTBOUND), "io_id")
    reasons = {io_id: letter["reason"] for io_id, letter in letters.items()}
    assert reasons["IO-NEG-TS"] == "ts below 0, the least dwd_sale_out.ts UInt64 holds"
    assert reasons["IO-1969"].startswith(
        "created outside 1970-01-01 08:00:00 .. 2106-02-07 14:28:15"
    )
    assert reasons["IO-2200"].startswith(
        "io_date outside 1970-01-01 08:00:00 .. 2106-02-07 14:28:15"
    )
    assert reasons["IO-OVERFLOW"].startswith(
        "pay_amount overflows dwd_sale_out.pay_amount Decimal(18, 4)"
    )
    assert reasons["IO-FEB-30"] == "malformed modified (want yyyy-MM-dd HH:mm:ss)"
    assert reasons["IO-HOUR-24"] == "malformed pay_date (want yyyy-MM-dd HH:mm:ss)"
    assert all(letter["stage"] == "flink.outbound" for letter in letters.values())

    landed = poll(
        lambda: (
            warehouse.query(
                "SELECT io_id FROM dwd_sale_out FINAL WHERE io_id IN {ids:Array(String)}",
                parameters={"ids": [*BAD_OUTBOUND, "IO-GOOD-NEIGHBOUR"]},
            ).result_rows
        )
    )
    assert landed == [("IO-GOOD-NEIGHBOUR",)], "only the valid document lands"


def test_rows_clickhouse_refuses_are_split_out_by_the_sink_and_the_rest_land(
    producer: Any, warehouse: Client, job_settings: Settings
) -> None:
    good = [f"SPLIT-SKU-{n}" for n in range(5)]
    refused = {"SPLIT-SKU-FEB-30": {"modified": "2026-02-30 10:00:00"},  # CANNOT_PARSE_DATETIME
               "SPLIT-SKU-NEG-VERSION": {"_ingested_at": -1}}  # _version UInt64  # fmt: skip
    for sku in [*good[:3], *refused, *good[3:]]:
        row = {
            "sku_id": sku,
            "name": f"名称 {sku}",
            "category": "测试",
            "cost_price": "1",
            "modified": "2026-11-01 00:00:00",
            "_ingested_at": 5,
        } | refused.get(sku, {})
        producer("sku", row, {"sku_id": sku})

    landed = poll(
        lambda: (
            sorted(
                r[0]
                for r in warehouse.query(
                    "SELECT sku_id FROM dim_sku FINAL WHERE sku_id LIKE 'SPLIT-SKU-%'"
                ).result_rows
            )
            if len(
                warehouse.query("SELECT 1 FROM dim_sku WHERE sku_id LIKE 'SPLIT-SKU-%'").result_rows
            )
            >= 5
            else None
        )
    )
    assert landed == sorted(good)

    letters = dead_letters(job_settings, "sku", set(refused), "sku_id")
    for sku, letter in letters.items():
        assert letter["stage"] == "clickhouse.dim_sku", letter
        assert letter["table"] == "dim_sku" and letter["row_key"] == sku
        assert letter["reason"].startswith("HTTP "), letter["reason"]
        assert "Code: " in letter["reason"]
    assert "Code: 41." in letters["SPLIT-SKU-FEB-30"]["reason"]
    assert "Code: 72." in letters["SPLIT-SKU-NEG-VERSION"]["reason"]
