"""The screens follow the ERP: the replenishment plan a buyer downloads, a SKU running out
of stock, a promotion starting, each seen in a real Chromium as the admin.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from test_inventory_slice import poll

from common.settings import PROJECT_ROOT, Settings
from dashboards import wall_check
from dashboards.provision import chart_data
from erp_simulator.control import SimulatorControl

pytestmark = pytest.mark.e2e

ARTIFACTS = PROJECT_ROOT / ".run" / "artifacts" / "screens"
# How long the test waits for the change to show. The issue promises 60 s; the test
# prints how long it took (a loaded CI machine may take longer, and timing is measured,
# not asserted: benchmarks/freshness_bench.py measures ERP -> warehouse, screens cache 10 s).
STOCK_SECONDS = 180.0
PLAN_COLUMNS = ["商品编码", "商品名称", "仓库", "可用数", "安全库存", "采购在途", "日均销量",
                "可售天数", "建议补货量", "计算假设"]  # fmt: skip


def one_value(settings: Settings, chart: str) -> Any:
    (row,) = chart_data(settings, chart)
    return next(iter(row.values()))


def expected_plan(warehouse: Client) -> dict[tuple[str, str], dict[str, Any]]:
    """The plan recomputed here from the warehouse's stock and 7-day sales per warehouse:
    positions below safety stock or short of 14 days of sales, suggested = 14 days - stock."""
    stock = warehouse.query(
        "SELECT sku_id, wms_co_id, warehouse_name, available_qty, min_qty, purchase_qty "
        "FROM dws_inventory_current"
    ).result_rows
    sales = {(sku, int(wms)): int(units) for sku, wms, units in warehouse.query(
        "SELECT sku_id, wms_co_id, units_7d FROM dws_sku_warehouse_sales").result_rows}  # fmt: skip
    plan = {}
    for sku, wms, warehouse_name, available, safety, purchase in stock:
        units = sales.get((sku, int(wms)), 0)
        if available < safety or 2 * units > available + purchase:
            plan[(sku, warehouse_name)] = {
                "可用数": available, "安全库存": safety, "采购在途": purchase,
                "日均销量": round(units / 7, 2),
                "可售天数": round(max(available, 0) / (units / 7), 1) if units else None,
                "建议补货量": max(0, 2 * units - available - purchase),
            }  # fmt: skip
    return plan


ROUNDING_STEP = {"日均销量": 0.01, "可售天数": 0.1}


def same_plan_row(downloaded: dict[str, Any] | None, expected: dict[str, Any] | None) -> bool:
    """Equal, except that a rounded column may differ by one step: ClickHouse rounds a float
    exactly halfway (3 / (20 / 7) = 1.05) to even, Python's float may land just above it."""
    if downloaded is None or expected is None:
        return downloaded is expected
    for column in downloaded.keys() | expected.keys():
        got, want = downloaded.get(column), expected.get(column)
        step = ROUNDING_STEP.get(column)
        if step and got is not None and want is not None:
            if abs(got - want) > step * 1.001:
                return False
        elif got != want:
            return False
    return True


def parse_plan(path: Path) -> tuple[list[str], dict[tuple[str, str], dict[str, Any]]]:
    text = path.read_bytes().decode("utf-8-sig")  # Excel's BOM, then UTF-8
    rows = list(csv.DictReader(io.StringIO(text)))
    header = list(rows[0]) if rows else []

    def number(value: str) -> float | None:
        return float(value) if value not in ("", "None", "nan") else None

    return header, {
        (row["商品编码"], row["仓库"]): {
            "可用数": int(row["可用数"]), "安全库存": int(row["安全库存"]),
            "采购在途": int(row["采购在途"]), "日均销量": number(row["日均销量"]),
            "可售天数": number(row["可售天数"]), "建议补货量": int(row["建议补货量"]),
        } for row in rows
    }  # fmt: skip


def test_the_replenishment_csv_downloaded_in_the_browser_matches_the_warehouse(
    screens_ready: Settings, warehouse: Client, tmp_path: Path
) -> None:
    superset = screens_ready.superset
    with wall_check.headless_chromium() as driver:
        wall_check.log_in(driver, superset.url, superset.admin_user,
                          superset.admin_password.get_secret_value())  # fmt: skip
        mismatch: list[str] = []
        for attempt in range(3):  # a serving table may be rebuilt between the two reads
            wall_check.open_screen(driver, superset.url, "inventory-alert", 6)
            path = wall_check.download_by_link(driver, "下载补货计划", tmp_path / str(attempt))
            header, downloaded = parse_plan(path)
            expected = expected_plan(warehouse)
            assert header == PLAN_COLUMNS
            mismatch = sorted(
                f"{key}: {downloaded.get(key)} != {expected.get(key)}"
                for key in set(downloaded) | set(expected)
                if not same_plan_row(downloaded.get(key), expected.get(key))
            )
            if not mismatch:
                break
    assert expected, "the plan is empty: nothing to check the download against"
    assert not mismatch, f"{len(mismatch)} rows differ, e.g. {mismatch[:5]}"


CELL_SCRIPT = """const [holder, key, column] = arguments;
const chart = document.querySelector(holder);
if (!chart) return null;
// the sticky header is a table of its own, above the body's table
const heads = [...chart.querySelectorAll('thead th')].map(th => th.innerText.trim());
const index = heads.findIndex(text => text.startsWith(column));
const row = [...chart.querySelectorAll('tbody tr')].find(tr => tr.innerText.includes(key));
if (!row || index < 0) return null;
return getComputedStyle(row.children[index]).backgroundColor;"""
SEARCH_SECONDS = 10.0  # the table filters as one types, a moment after the last key


def cell_colour(driver: Any, chart: str, key: str, column: str) -> tuple[int, int, int] | None:
    """Background of ``column`` in the row holding ``key`` of table chart ``chart``, after
    typing ``key`` into the table's search box as a person would and waiting for the
    table to show that row (None if it never does)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    holder = f'[data-test-chart-name="{chart}"]'
    boxes = driver.find_elements(By.CSS_SELECTOR, f"{holder} input.ant-input")
    if not boxes:
        return None
    boxes[0].clear()
    boxes[0].send_keys(key)
    try:
        colour = WebDriverWait(driver, SEARCH_SECONDS, poll_frequency=0.2).until(
            lambda d: d.execute_script(CELL_SCRIPT, holder, key, column)
        )
    except TimeoutException:
        return None
    parts = [int(float(p)) for p in colour[colour.index("(") + 1 : -1].split(",")[:3]]
    return parts[0], parts[1], parts[2]


def is_red(colour: tuple[int, int, int] | None) -> bool:
    return colour is not None and colour[0] > colour[1] + 60 and colour[0] > colour[2] + 60


def test_a_sku_going_to_zero_is_red_on_screen_6_and_counted_on_screen_1(
    screens_ready: Settings, erp: SimulatorControl, warehouse: Client
) -> None:
    # a position well stocked now, so that it enters both the plan and the count
    sku_id, wms_co_id, warehouse_name = warehouse.query(
        "SELECT sku_id, wms_co_id, warehouse_name FROM dws_inventory_current "
        "WHERE min_qty > 0 AND available_qty > min_qty + 10 ORDER BY sku_id LIMIT 1"
    ).result_rows[0]
    out_of_stock = one_value(screens_ready, "缺货SKU数")
    superset = screens_ready.superset
    changed = time.monotonic()
    erp.set_inventory(sku_id, int(wms_co_id), qty=0, virtual_qty=0, order_lock=0, lock_qty=0)
    counted = poll(lambda: one_value(screens_ready, "缺货SKU数") == out_of_stock + 1,
                   STOCK_SECONDS, interval=1.0)  # fmt: skip
    counted_after = time.monotonic() - changed
    assert counted, f"screen 1 still counts {one_value(screens_ready, '缺货SKU数')} out of stock"
    with wall_check.headless_chromium() as driver:
        wall_check.log_in(driver, superset.url, superset.admin_user,
                          superset.admin_password.get_secret_value())  # fmt: skip

        def red_on_screen_6() -> bool:
            wall_check.open_screen(driver, superset.url, "inventory-alert", 6)
            return is_red(cell_colour(driver, "补货计划", sku_id, "可用数"))

        red = poll(red_on_screen_6, max(1.0, STOCK_SECONDS - (time.monotonic() - changed)),
                   interval=1.0)  # fmt: skip
        wall_check.save(wall_check.open_screen(driver, superset.url, "inventory-alert", 6),
                        ARTIFACTS, "stock-zero-inventory-alert")  # fmt: skip
        shown_after = time.monotonic() - changed
        assert red, f"{sku_id} @ {warehouse_name} is not red on screen 6 after {shown_after:.0f}s"
        report = wall_check.open_screen(driver, superset.url, "inventory-overview", 9)
        wall_check.save(report, ARTIFACTS, "stock-zero-inventory-overview")
        assert f"{out_of_stock + 1:,}" in wall_check.visible_text(driver)
    print(
        f"stock 0: counted on screen 1 after {counted_after:.1f}s, "
        f"red on screen 6 after {shown_after:.1f}s"
    )


def grows(read: Callable[[], float], above: float) -> Callable[[], bool]:
    return lambda: read() > above


def test_a_promotion_moves_the_war_report(screens_ready: Settings, erp: SimulatorControl) -> None:
    orders_before = one_value(screens_ready, "今日订单数") or 0
    gmv_before = one_value(screens_ready, "今日GMV") or 0.0
    # 12 promotion orders an hour at 600x speed: two orders a second, and their shipping
    # (hours in the ERP's life) in seconds, so the counters move within a minute or two.
    erp.start_promotion(orders_per_hour=12, duration_seconds=30)
    erp.start_traffic(speed=600)
    try:
        moved = poll(grows(lambda: one_value(screens_ready, "今日订单数") or 0,
                           orders_before + 10), 180.0, interval=2.0)  # fmt: skip
    finally:
        erp.stop_promotion()
        erp.start_traffic(speed=1.0)
        erp.stop_traffic()
    assert moved, f"今日订单数 stayed at {one_value(screens_ready, '今日订单数')}"
    assert (one_value(screens_ready, "今日GMV") or 0.0) > gmv_before
    superset = screens_ready.superset
    with wall_check.headless_chromium() as driver:
        wall_check.log_in(driver, superset.url, superset.admin_user,
                          superset.admin_password.get_secret_value())  # fmt: skip

        def shows_current_count() -> bool:  # the pipeline may still be landing the last orders
            report = wall_check.open_screen(driver, superset.url, "promotion-live", 6)
            assert not report.problems(6), report.problems(6)
            wall_check.save(report, ARTIFACTS, "promotion-live-after-promotion")
            orders = one_value(screens_ready, "今日订单数")
            return f"{orders:,}" in wall_check.visible_text(driver)

        assert poll(shows_current_count, 90.0, interval=2.0), "screen 7 never showed the count"
