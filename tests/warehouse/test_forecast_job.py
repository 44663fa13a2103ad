"""The forecast job on the warehouse: reads the serving layer, swaps in whole forecasts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from common.settings import ClickHouseSettings
from warehouse import serving
from warehouse.client import connect
from warehouse.forecast import job, model

pytestmark = pytest.mark.integration

SHOP = 990101
WEEKDAY = [0.9, 0.9, 0.95, 1.0, 1.05, 1.2, 1.1]


@pytest.fixture(scope="module")
def warehouse(clickhouse_settings: ClickHouseSettings) -> Iterator[Client]:
    client = connect(clickhouse_settings)
    yield client
    client.close()


def documents(today: date, days: int) -> list[dict[str, object]]:
    """Three documents an hour for ``days`` days, more on weekends; a promotion four days
    ago that sells five times as much, labelled 大促 as the ERP labels it."""
    rows = []
    for day_offset in range(days, 0, -1):
        day = today - timedelta(days=day_offset)
        promotion = day_offset == 4
        for hour in range(24):
            for n in range(3):
                at = f"{day} {hour:02d}:{10 + n:02d}:00"
                amount = 100 * WEEKDAY[day.weekday()] * (5 if promotion else 1)
                rows.append({
                    "io_id": f"FC-{day}-{hour}-{n}", "o_id": f"FO-{day}-{hour}-{n}",
                    "shop_id": SHOP, "shop_name": "预测店", "platform": "测试", "shop_owner": "",
                    "status": "Confirmed", "pay_amount": f"{amount:.2f}", "free_amount": "0",
                    "freight": "0", "platform_fee_rate": "0", "logistics_company": "顺丰",
                    "labels": "大促" if promotion else "", "created": at, "modified": at,
                    "io_date": at, "pay_date": at, "ts": 1, "_version": 1,
                })  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def forecast_run(warehouse: Client) -> job.ForecastRun:
    today = datetime.now(job.SHANGHAI).date()
    body = "\n".join(json.dumps(row, ensure_ascii=False) for row in documents(today, 28))
    warehouse.command("INSERT INTO dwd_sale_out SETTINGS date_time_input_format = 'best_effort' "
                      f"FORMAT JSONEachRow {body}")  # fmt: skip
    serving.refresh_now(warehouse)
    return job.run_once(warehouse)


def test_today_gets_24_hours_from_the_model_and_a_rerun_replaces_them(
    warehouse: Client, forecast_run: job.ForecastRun
) -> None:
    assert forecast_run.hourly_model == model.MODEL_HOURLY  # four weeks: MSTL, not the mean
    hours = warehouse.query(
        "SELECT hour_of_day, outbound_forecast_amount FROM metric_outbound_forecast "
        "ORDER BY hour_of_day"
    ).result_rows
    assert [row[0] for row in hours] == list(range(24))
    assert all(row[1] >= 0 for row in hours)
    job.run_once(warehouse)
    count = warehouse.query("SELECT count() FROM dws_outbound_forecast_hourly").result_rows
    assert count[0][0] == 24


def test_each_shop_gets_30_days_that_keep_the_weekday_and_ignore_the_promotion(
    warehouse: Client, forecast_run: job.ForecastRun
) -> None:
    rows = warehouse.query(
        "SELECT day, outbound_forecast_daily_amount FROM metric_outbound_forecast_daily "
        "WHERE shop_id = {shop:Int64} ORDER BY day",
        parameters={"shop": SHOP},
    ).result_rows
    today = forecast_run.today
    assert [row[0] for row in rows] == [today + timedelta(days=n) for n in range(30)]
    truth = [3 * 24 * 100 * WEEKDAY[(today + timedelta(days=n)).weekday()] for n in range(30)]
    # The 5x promotion four days ago would drag a plain 7-day mean up by 57 %.
    assert model.wape(truth, [row[1] for row in rows]) < 0.05
    model_names = warehouse.query(
        "SELECT DISTINCT model FROM dws_outbound_forecast_daily WHERE shop_id = {shop:Int64}",
        parameters={"shop": SHOP},
    ).result_rows
    assert model_names == [(model.MODEL_DAILY,)]
