"""The generated business: deterministic, seasonal, consistent money, realistic after-sales."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import datetime, timedelta

import pytest

from common.settings import SimulatorSettings
from connectors.models import BEIJING
from erp_simulator.catalog import generate
from erp_simulator.documents import REASON_SHARE
from erp_simulator.engine import ErpEngine, TrafficSettings
from erp_simulator.server import build_business
from erp_simulator.shape import WEEKDAY_FACTORS, DemandCurve, arrival_times
from erp_simulator.store import ErpStore
from erp_simulator.tables import AFTERSALE_TYPES

pytestmark = pytest.mark.unit

NOW = datetime(2026, 7, 20, 12, 0, 0, tzinfo=BEIJING)
SETTINGS = SimulatorSettings(seed=5, sku_count=400, warehouse_count=3)


@pytest.fixture(scope="module")
def history() -> ErpStore:
    """Eight days at 120 orders/hour (about 30,000 orders)."""
    store, _ = build_business(
        SETTINGS, TrafficSettings(backfill_days=8, orders_per_hour=120), now=NOW
    )
    return store


def test_same_seed_same_history_other_seed_other_history() -> None:
    traffic = TrafficSettings(backfill_days=1, orders_per_hour=60)
    first, _ = build_business(SETTINGS, traffic, now=NOW)
    second, _ = build_business(
        SETTINGS, TrafficSettings(backfill_days=1, orders_per_hour=60), now=NOW
    )
    for stream in ("outbound", "refund", "aftersale_received"):
        assert first.rows(stream) == second.rows(stream)
    assert [r["ts"] for r in first.inventory_rows()] == [r["ts"] for r in second.inventory_rows()]
    other, _ = build_business(
        SETTINGS.model_copy(update={"seed": 6}), TrafficSettings(backfill_days=1), now=NOW
    )
    assert other.rows("outbound") != first.rows("outbound")


def test_july_has_more_orders_than_january_and_the_year_peaks_in_july() -> None:
    curve = DemandCurve(30)
    months = {}
    for month in (1, 4, 7, 10):
        start = datetime(2026, month, 1, tzinfo=BEIJING)
        end = start + timedelta(days=28)
        months[month] = len(arrival_times(random.Random(month), start, end, curve.rate))
    assert months[7] > 1.8 * months[1]
    assert months[1] < months[4] < months[7] > months[10]


def test_evening_peak_and_night_trough() -> None:
    curve = DemandCurve(200)
    start = datetime(2026, 3, 2, tzinfo=BEIJING)
    times = arrival_times(random.Random(1), start, start + timedelta(days=7), curve.rate)
    by_hour = Counter(moment.hour for moment in times)
    evening = sum(by_hour[h] for h in (20, 21))
    night = sum(by_hour[h] for h in (3, 4))
    assert evening > 8 * night
    assert max(by_hour, key=lambda hour: by_hour[hour]) in (20, 21, 22)


def test_promotion_reaches_50000_orders_per_hour() -> None:
    store = ErpStore(1, 2000, 4, clock=lambda: NOW)
    engine = ErpEngine(store, TrafficSettings(orders_per_hour=100), 1, NOW)
    engine.start_promotion(50_000, NOW)
    started = time.monotonic()
    engine.run_until(NOW + timedelta(minutes=2))
    elapsed = time.monotonic() - started
    orders = len(store.outbound)
    assert 50_000 / 30 * 0.93 < orders < 50_000 / 30 * 1.07
    assert all(row["labels"] == "大促" for row in store.rows("outbound"))
    assert elapsed < 10, "the generator keeps up with a promotion peak"
    engine.stop_promotions(NOW + timedelta(minutes=2))
    engine.run_until(NOW + timedelta(minutes=4))
    assert len(store.outbound) < orders + 60


def test_amounts_are_consistent(history: ErpStore) -> None:
    for row in history.rows("outbound"):
        total = sum(item["sale_amount"] for item in row["items"])
        assert row["pay_amount"] == round(total - row["free_amount"] + row["freight"], 2)
        assert row["paid_amount"] == row["pay_amount"] and row["pay_date"] <= row["created"]
        paid_lines = len([i for i in row["items"] if not i["is_gift"]])
        assert paid_lines in range(1, 5), f"{row['io_id']} has {paid_lines} paid lines"
        for item in row["items"]:
            assert item["sale_amount"] == round(item["sale_price"] * item["qty"], 2)
            assert item["sale_price"] <= item["sale_base_price"]
    for refund in history.rows("refund"):
        amount = round(sum(item["amount"] for item in refund["items"]), 2)
        assert 0 <= refund["refund"] <= amount
        assert all(
            item["amount"] == round(item["price"] * item["qty"], 2) for item in refund["items"]
        )


def test_mixes_of_shops_warehouses_carriers_and_statuses(history: ErpStore) -> None:
    rows = history.rows("outbound")
    assert len({r["shop_id"] for r in rows}) == len(history.shops)
    assert len({r["wms_co_id"] for r in rows}) == 3
    assert len({r["logistics_company"] for r in rows}) >= 6
    statuses = Counter(r["status"] for r in rows)
    assert statuses["Confirmed"] > 0.8 * len(rows)
    assert {"WaitConfirm", "Cancelled", "Delete"} <= set(statuses)


def test_after_sale_types_reasons_and_high_rate_skus(history: ErpStore) -> None:
    refunds = history.rows("refund")
    outbound = history.rows("outbound")
    assert 0.02 < len(refunds) / len(outbound) < 0.15
    assert set(AFTERSALE_TYPES) == {r["type"] for r in refunds}
    assert {r["question_type"] for r in refunds} <= set(REASON_SHARE)
    assert {"WaitConfirm", "Confirmed", "Cancelled"} <= {r["status"] for r in refunds}
    assert {"BUYER_RETURNED_GOODS", "SELLER_RECEIVED"} <= {r["good_status"] for r in refunds}
    shipped = Counter(
        i["sku_id"] for r in outbound if r["status"] == "Confirmed" for i in r["items"]
    )
    returned = Counter(i["sku_id"] for r in refunds for i in r["items"])
    rates = {sku: returned[sku] / count for sku, count in shipped.items() if count >= 30}
    high = [sku for sku, rate in rates.items() if rate > 0.05]
    assert high and len(high) < len(rates) / 5, "a few SKUs stand out above 5 %"


def test_received_goods_land_in_return_or_defective_stock(history: ErpStore) -> None:
    received = history.rows("aftersale_received")
    assert received and {r["wh_id"] for r in received} <= {2, 4}
    assert {r["wh_id"] for r in received} == {2, 4}


def test_stock_runs_out_and_purchases_arrive(history: ErpStore) -> None:
    rows = history.inventory_rows()
    assert any(r["qty"] <= 0 for r in rows)
    assert any(r["purchase_qty"] > 0 for r in rows)


def test_ts_follows_modified_across_catalog_and_history(history: ErpStore) -> None:
    every = [*history.inventory_rows()]
    for stream in ("outbound", "refund", "aftersale_received"):
        every += history.rows(stream)
    every.sort(key=lambda row: row["ts"])
    assert len({row["ts"] for row in every}) == len(every)
    modified = [row["modified"] for row in every]
    assert modified == sorted(modified)
    assert modified[-1] <= "2026-07-20 12:00:00"


def test_thirty_thousand_skus_generate_whole() -> None:
    """The large-merchant benchmark's catalog (its generation time is in benchmarks/)."""
    catalog = generate(1, 30_000, 4, NOW)
    assert len(catalog.skus) == 30_000 and len(catalog.inventory) == 120_000


def test_weekends_are_busier_and_calendar_promotions_spike_and_are_labelled() -> None:
    """The history a forecast learns from: Saturday above Tuesday, 双11 about five ordinary
    days, and every order of a promotion day labelled 大促."""
    curve = DemandCurve(100)
    tuesday = datetime(2026, 9, 15, 12, tzinfo=BEIJING)
    saturday = tuesday + timedelta(days=4)
    assert saturday.weekday() == 5 and curve.rate(saturday) > 1.15 * curve.rate(tuesday)
    assert WEEKDAY_FACTORS[5] == max(WEEKDAY_FACTORS)
    singles_day = datetime(2026, 11, 11, 12, tzinfo=BEIJING)  # a Wednesday, as is the 4th
    assert curve.rate(singles_day) == pytest.approx(5 * curve.rate(singles_day - timedelta(days=7)))
    assert curve.in_promotion(singles_day) and not curve.in_promotion(tuesday)
    store, _ = build_business(
        SETTINGS, TrafficSettings(backfill_days=2, orders_per_hour=60),
        now=datetime(2026, 11, 12, 6, tzinfo=BEIJING),
    )  # fmt: skip
    labelled = Counter(
        (row["created"][:10], row["labels"] == "大促") for row in store.rows("outbound")
    )
    assert labelled[("2026-11-11", True)] > 0 and labelled[("2026-11-11", False)] == 0
    assert labelled[("2026-11-10", False)] > 0 and labelled[("2026-11-10", True)] == 0
