"""The five analyses of `erpbi analyze` on the real engine, over documents whose answers are
known: top sellers and their share, a pair bought together more often than chance, shop
tiers, the weekday profile, stock status. Every number in an insight is one of its facts.

The rows sit 200 days back with shop ids, SKUs and products of their own, so the session's
other test data (40 days back and nearer) stays out of every window here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from common.settings import ClickHouseSettings
from warehouse import serving
from warehouse.analysis.analyses import run
from warehouse.analysis.report import Analysis
from warehouse.client import connect

pytestmark = pytest.mark.integration

DAY = date.today() - timedelta(days=200)
SHOPS = {970001: "甲店", 970002: "乙店", 970003: "丙店"}
PRODUCTS = {"AN-A": "甲商品", "AN-B": "乙商品", "AN-C": "丙商品"}


def insert(client: Client, table: str, rows: list[dict[str, Any]]) -> None:
    body = "\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
    client.command(f"INSERT INTO {table} SETTINGS date_time_input_format = 'best_effort' "
                   f"FORMAT JSONEachRow {body}")  # fmt: skip


def document(io_id: str, shop_id: int, day: date, pay: float) -> dict[str, Any]:
    at = f"{day} 10:00:00"
    return {"io_id": io_id, "o_id": f"O-{io_id}", "shop_id": shop_id,
            "shop_name": SHOPS[shop_id], "platform": "测试", "shop_owner": "owner",
            "status": "Confirmed", "pay_amount": str(pay), "free_amount": "0", "freight": "0",
            "platform_fee_rate": "0.05", "created": at, "modified": at, "io_date": at,
            "pay_date": at, "ts": 1, "_version": 1}  # fmt: skip


def line(io_id: str, n: int, shop_id: int, day: date, product: str, qty: int,
         amount: float) -> dict[str, Any]:  # fmt: skip
    at = f"{day} 10:00:00"
    return {"io_id": io_id, "ioi_id": f"{io_id}-{n}", "o_id": f"O-{io_id}", "shop_id": shop_id,
            "status": "Confirmed", "sku_id": f"{product}-1", "i_id": product,
            "sku_name": f"{PRODUCTS[product]} 默认", "category": "分析测试", "qty": qty,
            "sale_amount": str(amount), "created": at, "modified": at, "io_date": at, "ts": 1,
            "_version": 1}  # fmt: skip


@pytest.fixture(scope="module")
def landed(clickhouse_settings: ClickHouseSettings) -> Iterator[Client]:
    """On DAY: 6 documents with products A and B, 2 with A alone, 6 with C alone.
    Shop 970001 takes 700 of the 1,000 paid (A+B and A), 970002 200 (C), 970003 100 (C).
    Six days before DAY: one document of 50 (the weekday profile's other days)."""
    client = connect(clickhouse_settings)
    documents, lines = [], []
    plan = [("AB", 970001, 100.0)] * 6 + [("A", 970001, 50.0)] * 2 + [("C", 970002, 40.0)] * 5
    for n, (products, shop, pay) in enumerate(plan):
        io_id = f"AN-{n}"
        documents.append(document(io_id, shop, DAY, pay))
        for k, product in enumerate(products, 1):
            lines.append(line(io_id, k, shop, DAY, f"AN-{product}", 1, pay / len(products)))
    documents.append(document("AN-X", 970003, DAY, 100.0))
    lines.append(line("AN-X", 1, 970003, DAY, "AN-C", 4, 100.0))
    for back in range(1, 7):
        day = DAY - timedelta(days=back)
        documents.append(document(f"AN-P{back}", 970003, day, 50.0))
        lines.append(line(f"AN-P{back}", 1, 970003, day, "AN-C", 1, 50.0))
    insert(client, "dwd_sale_out", documents)
    insert(client, "dwd_sale_out_item", lines)
    insert(client, "dim_sku", [{"sku_id": f"{p}-1", "i_id": p, "sku_name": f"{name} 默认",
                                "short_name": name, "category": "分析测试", "_version": 1}
                               for p, name in PRODUCTS.items()])  # fmt: skip
    serving.refresh_now(client)
    yield client
    client.close()


def query(client: Client) -> Any:
    return lambda sql, params: [tuple(r) for r in client.query(sql, parameters=params).result_rows]


def numbers_in(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:\.\d+)?", text))


def assert_insight_from_facts(analysis: Analysis) -> None:
    facts = " ".join(str(value) for value in analysis.facts.values())
    missing = numbers_in(analysis.insight) - numbers_in(facts) - {"50", "200"}  # thresholds
    assert not missing, f"{analysis.name}: {missing} in the insight are no facts"


def test_top_sellers_rank_by_amount_with_their_share(landed: Client) -> None:
    top = run("top-sellers", query(landed), DAY, days=1)
    assert [row[1] for row in top.rows] == ["AN-A-1", "AN-B-1", "AN-C-1"]  # B, C tie: by id
    assert top.rows[0][4:] == (8, 400.0, "40.0%")  # 6 x 50 + 2 x 50 of the 1,000
    assert "甲商品 默认" in top.insight and "40.0%" in top.insight and "100.0%" in top.insight
    assert_insight_from_facts(top)


def test_affinity_finds_the_pair_bought_together_more_than_by_chance(landed: Client) -> None:
    pairs = run("affinity", query(landed), DAY, days=1)
    (pair,) = [row for row in pairs.rows if "AN-A" in row[0]]
    # 14 documents; A in 8, B in 6, together 6: confidence 6/8, lift 6 x 14 / (8 x 6).
    assert pair[:5] == ("甲商品(AN-A)", "乙商品(AN-B)", 6, "42.9%", "75.0%")
    assert pair[5] == round(6 * 14 / (8 * 6), 2)
    assert "甲商品和乙商品最常一起买" in pairs.insight and "组合促销" in pairs.insight
    assert_insight_from_facts(pairs)


def test_shops_fall_into_abc_tiers_by_their_share(landed: Client) -> None:
    tiers = run("customer-tiers", query(landed), DAY, days=1)
    ours = [(row[0], row[1], row[6]) for row in tiers.rows if int(row[1]) in SHOPS]
    assert ours == [("A", "970001", "70.0%"), ("B", "970002", "20.0%"), ("C", "970003", "10.0%")]
    assert_insight_from_facts(tiers)


def test_the_weekday_profile_names_the_busiest_day(landed: Client) -> None:
    season = run("seasonal", query(landed), DAY, days=7)
    weekdays = {row[0]: row[2] for row in season.rows}
    busiest = max(weekdays, key=weekdays.get)  # type: ignore[arg-type]
    assert busiest == "周一周二周三周四周五周六周日"[DAY.weekday() * 2 : DAY.weekday() * 2 + 2]
    assert f"{busiest}最旺" in season.insight
    assert_insight_from_facts(season)


def test_inventory_status_counts_every_sku_once(landed: Client) -> None:
    status = run("inventory-status", query(landed), DAY, days=7)
    total = landed.query("SELECT uniqExact(sku_id) FROM dws_inventory_current").result_rows[0][0]
    assert sum(row[1] for row in status.rows) == total
    assert [row[0].split()[0] for row in status.rows] == ["紧缺", "偏低", "正常"][
        : len(status.rows)
    ]
    assert_insight_from_facts(status)


def test_json_and_table_carry_the_same_rows(landed: Client) -> None:
    top = run("top-sellers", query(landed), DAY, days=1)
    data = json.loads(top.as_json())
    assert data["rows"][0][1] == "AN-A-1" and data["insight"] == top.insight
    table = top.as_table()
    assert "畅销商品" in table and "AN-A-1" in table and top.insight in table
