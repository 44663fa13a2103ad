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
        # Two lines of two categories and a gift, paid 100 for 130 of goods (a discount):
        # the document's 100 is allocated 60 : 40 : 0 by line amount.
        document("SV-5", SHOP_2, "测试乙", DAY_B, "Confirmed", "100", 1),
        document("SV-6", SHOP_2, "测试乙", DAY_B, "Confirmed", "10", 1),  # no item rows landed
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
        item("SV-5", SHOP_2, DAY_B, "测试类目一", "78", 1),
        item("SV-5", SHOP_2, DAY_B, "测试类目二", "52", 1) | {"ioi_id": "SV-5-2"},
        item("SV-5", SHOP_2, DAY_B, "测试类目三", "0", 1) | {"ioi_id": "SV-5-3"},  # a gift
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
            if row.member.startswith(("99000", "测试", explain.NO_ITEMS))]  # fmt: skip
    by_member = {(row.dimension, row.member): row for row in rows}
    shop_1 = by_member[("shop", f"{SHOP_1} 店{SHOP_1}")]
    shop_2 = by_member[("shop", f"{SHOP_2} 店{SHOP_2}")]
    assert (shop_1.base_amount, shop_1.amount, shop_1.change) == (170, 300, 130)
    assert (shop_2.base_amount, shop_2.amount, shop_2.change) == (0, 190, 190)
    assert by_member[("platform", "测试甲")].change == 130
    # SV-5's 100 allocated 78 : 52 : 0 -> 60, 40 and 0; SV-6 has no item rows.
    assert by_member[("category", "测试类目一")].change == 300 + 60 - 120
    assert by_member[("category", "测试类目二")].change == 80 + 40 - 50
    assert by_member[("category", "测试类目三")].change == 0
    assert by_member[("category", explain.NO_ITEMS)].change == 10
    report = explain.render(DAY_B, "dod", rows)
    assert "by shop" in report and "by category" in report


def test_every_split_explains_the_catalogue_outbound_amount(landed: Client) -> None:
    """Shop, platform and category each add up to the catalogue's outbound amount of both
    days, to the cent, although item amounts differ from document amounts."""
    rows = explain.contributions(landed, DAY_B, "dod")
    totals = {
        dimension: (
            sum(row.base_amount for row in rows if row.dimension == dimension),
            sum(row.amount for row in rows if row.dimension == dimension),
        )
        for dimension in explain.DIMENSIONS
    }
    catalogue = landed.query(
        "SELECT sumIf(outbound_amount, day = {base:Date}), "
        "sumIf(outbound_amount, day = {day:Date}) FROM metric_outbound_daily "
        "WHERE day IN ({base:Date}, {day:Date})",
        parameters={"day": DAY_B, "base": DAY_A},
    ).result_rows[0]
    assert set(totals.values()) == {tuple(catalogue)}, totals


def months_ago(months: int) -> date:
    """A day in the month `months` before this one (GMT+8), the 10th, so no edge applies."""
    today = date.today()
    year, month = divmod(today.year * 12 + today.month - 1 - months, 12)
    return date(year, month + 1, 10)


def test_item_serving_splits_by_created_month_and_still_equals_final(warehouse: Client) -> None:
    """Items are served from a slice rebuilt every minute (documents created this month and
    last) and one rebuilt hourly (older): a document created months ago and shipped today,
    a newer version in an old partition and a current one all count exactly once."""
    today = date.today()
    shop, sku = 990003, "SKU-split-test"

    def line(io_id: str, created: date, shipped: date, status: str, qty: int,
             version: int) -> dict[str, Any]:  # fmt: skip
        row = item(io_id, shop, shipped, "测试类目三", str(10 * qty), version)
        return row | {"sku_id": sku, "status": status, "qty": qty,
                      "created": f"{created} 09:00:00",
                      "modified": f"{shipped} 10:00:00"}  # fmt: skip

    insert(warehouse, "dwd_sale_out_item", [
        line("SP-1", months_ago(4), today, "WaitConfirm", 1, 1),
        line("SP-1", months_ago(4), today, "Confirmed", 2, 2),  # created long ago, shipped today
        line("SP-2", months_ago(1), today, "Confirmed", 3, 1),  # last month: the minute slice
        line("SP-3", today, today, "Confirmed", 4, 1),
        line("SP-4", months_ago(3), months_ago(3), "Confirmed", 5, 1),
        line("SP-4", months_ago(3), months_ago(3), "Cancelled", 5, 2),  # cancelled later
        line("SP-5", months_ago(2), months_ago(2), "Confirmed", 6, 1),
    ])  # fmt: skip
    serving.refresh_now(warehouse)
    final = warehouse.query(
        "SELECT toDate(io_date) AS day, sum(qty), sum(sale_amount), uniqExact(io_id) "
        "FROM dwd_sale_out_item FINAL WHERE sku_id = {sku:String} AND status = 'Confirmed' "
        "GROUP BY day ORDER BY day",
        parameters={"sku": sku},
    ).result_rows
    served = warehouse.query(
        "SELECT s.day, s.units, s.amount, a.out_documents FROM "
        "(SELECT day, sum(units) AS units, sum(amount) AS amount FROM dws_sale_out_item_daily "
        " WHERE sku_id = {sku:String} GROUP BY day) AS s "
        "JOIN (SELECT day, sum(out_documents) AS out_documents FROM dws_sku_aftersale_daily "
        " WHERE sku_id = {sku:String} GROUP BY day) AS a USING (day) ORDER BY day",
        parameters={"sku": sku},
    ).result_rows
    assert [tuple(row) for row in served] == [tuple(row) for row in final]
    assert [(day, units) for day, units, *_ in served] == [(months_ago(2), 6), (today, 9)]
    ranked = warehouse.query(
        "SELECT outbound_sku_amount FROM metric_outbound_sku_daily "
        "WHERE sku_id = {sku:String} AND day = {day:Date}",
        parameters={"sku": sku, "day": today},
    ).result_rows
    assert ranked == [(Decimal("90"),)]  # one row for the day, from both slices
    months = warehouse.query(
        "SELECT groupArray(created_month) FROM (SELECT created_month FROM dws_sale_out_item_daily "
        "WHERE sku_id = {sku:String} AND day = {day:Date} ORDER BY created_month)",
        parameters={"sku": sku, "day": today},
    ).result_rows[0][0]
    assert months == [int(d.strftime("%Y%m")) for d in (months_ago(4), months_ago(1), today)]
