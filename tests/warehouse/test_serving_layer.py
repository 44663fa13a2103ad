"""The DWS serving layer on the real engine: FINAL-free answers equal FINAL's, and the
"why did it change" split adds up to the change.

Rows use shop ids, platforms and categories of their own (the session's warehouse is
shared with other test folders), on two days well inside the 3-year TTL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from common.settings import ClickHouseSettings
from warehouse import explain, serving
from warehouse.client import connect

DAY_A = date.today() - timedelta(days=40)
DAY_B = DAY_A + timedelta(days=1)
SHOP_1, SHOP_2 = 990001, 990002


@pytest.fixture(scope="module")
def warehouse(clickhouse_settings: ClickHouseSettings) -> Iterator[Client]:
    client = connect(clickhouse_settings)
    yield client
    client.close()


def document(io_id: str, shop_id: int, platform: str, day: date, status: str, pay: str,
             version: int) -> dict[str, Any]:  # fmt: skip
    at = f"{day} 10:00:00"
    return {"io_id": io_id, "o_id": f"O-{io_id}", "shop_id": shop_id, "shop_name": f"店{shop_id}",
            "platform": platform, "shop_owner": "owner", "status": status, "pay_amount": pay,
            "free_amount": "0", "freight": "0", "platform_fee_rate": "0.05",
            "logistics_company": "顺丰", "created": at, "modified": at, "io_date": at,
            "pay_date": at, "ts": version, "_version": version}  # fmt: skip


def item(io_id: str, shop_id: int, day: date, category: str, amount: str,
         version: int) -> dict[str, Any]:  # fmt: skip
    at = f"{day} 10:00:00"
    return {"io_id": io_id, "ioi_id": f"{io_id}-1", "o_id": f"O-{io_id}", "shop_id": shop_id,
            "status": "Confirmed", "sku_id": f"SKU-{category}", "category": category, "qty": 1,
            "sale_amount": amount, "created": at, "modified": at, "io_date": at, "ts": version,
            "_version": version}  # fmt: skip


def insert(client: Client, table: str, rows: list[dict[str, Any]]) -> None:
    import json

    body = "\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
    client.command(f"INSERT INTO {table} SETTINGS date_time_input_format = 'best_effort' "
                   f"FORMAT JSONEachRow {body}")  # fmt: skip


@pytest.fixture(scope="module")
def landed(warehouse: Client) -> Client:
    insert(warehouse, "dwd_sale_out", [
        document("SV-1", SHOP_1, "测试甲", DAY_A, "WaitConfirm", "100", 1),
        document("SV-1", SHOP_1, "测试甲", DAY_A, "Confirmed", "120", 2),  # newer version
        document("SV-2", SHOP_1, "测试甲", DAY_A, "Confirmed", "50", 1),
        document("SV-3", SHOP_1, "测试甲", DAY_B, "Confirmed", "300", 1),
        document("SV-4", SHOP_2, "测试乙", DAY_B, "Confirmed", "80", 1),
    ])  # fmt: skip
    # An older version arriving after the newer one must not win.
    insert(
        warehouse, "dwd_sale_out", [document("SV-2", SHOP_1, "测试甲", DAY_A, "Cancelled", "50", 0)]
    )
    insert(warehouse, "dwd_sale_out_item", [
        item("SV-1", SHOP_1, DAY_A, "测试类目一", "120", 2),
        item("SV-2", SHOP_1, DAY_A, "测试类目二", "50", 1),
        item("SV-3", SHOP_1, DAY_B, "测试类目一", "300", 1),
        item("SV-4", SHOP_2, DAY_B, "测试类目二", "80", 1),
    ])  # fmt: skip
    serving.refresh_now(warehouse)
    return warehouse


def test_dashboard_views_answer_what_final_answers_without_final(landed: Client) -> None:
    final = landed.query(
        "SELECT toDate(io_date) AS day, shop_id, countIf(status = 'Confirmed'), "
        "sumIf(pay_amount, status = 'Confirmed') FROM dwd_sale_out FINAL "
        "WHERE shop_id IN (990001, 990002) GROUP BY day, shop_id ORDER BY day, shop_id"
    ).result_rows
    served = landed.query(
        "SELECT day, shop_id, outbound_documents, outbound_amount FROM metric_outbound_daily "
        "WHERE shop_id IN (990001, 990002) ORDER BY day, shop_id"
    ).result_rows
    assert [tuple(row) for row in served] == [tuple(row) for row in final]
    assert served[0][2:] == (2, Decimal("170"))  # SV-1 at its newest version, SV-2 not cancelled
    fee = landed.query(
        "SELECT finance_platform_fee FROM metric_finance_daily "
        "WHERE shop_id = 990001 AND day = {d:Date}",
        parameters={"d": DAY_A},
    ).result_rows[0][0]
    assert fee == Decimal("8.5")  # 5 % of 170


def test_change_is_split_into_contributions_that_add_up(landed: Client) -> None:
    rows = [row for row in explain.contributions(landed, DAY_B, "dod")
            if row.member.startswith(("99000", "测试"))]  # fmt: skip
    by_member = {(row.dimension, row.member): row for row in rows}
    shop_1 = by_member[("shop", f"{SHOP_1} 店{SHOP_1}")]
    shop_2 = by_member[("shop", f"{SHOP_2} 店{SHOP_2}")]
    assert (shop_1.base_amount, shop_1.amount, shop_1.change) == (170, 300, 130)
    assert (shop_2.base_amount, shop_2.amount, shop_2.change) == (0, 80, 80)
    assert by_member[("platform", "测试甲")].change == 130
    assert by_member[("category", "测试类目一")].change == 180  # 300 - 120
    assert by_member[("category", "测试类目二")].change == 30  # 80 - 50
    report = explain.render(DAY_B, "dod", rows)
    assert "by shop" in report and "by category" in report
