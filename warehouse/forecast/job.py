"""Make the outbound forecasts from the warehouse and write them back (scheduled).

Reads whole hours and days before today (GMT+8) from ``dws_sale_out_hourly`` (amount and
promotion amount of confirmed documents), fits :mod:`warehouse.forecast.model`, and
writes today's 24 hourly amounts to ``dws_outbound_forecast_hourly`` and 30 days per shop
(today first) to ``dws_outbound_forecast_daily``. Each table holds the newest run only: a
run fills a fresh copy of the table and swaps it in with EXCHANGE TABLES (atomic), so a
screen reads one whole forecast at every moment, with neither FINAL nor argMax.

``erpbi warehouse forecast`` runs it once; ``--every SECONDS`` keeps running it (the
stack's ``forecaster`` service, every 15 minutes by default). One fixed-interval loop
needs no scheduling library; the daily pushes' scheduler (cron times, misfires) is a
separate piece.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from warehouse.forecast import model

LOG = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")
HOURLY_HISTORY_DAYS = 56  # eight weeks: MSTL's weekly season eight times over
DAILY_HISTORY_DAYS = 112
DAILY_HORIZON_DAYS = 30
PROMOTION_SHARE = 0.5  # an hour (day) is a promotion when promotions made most of its amount

_HOURLY_SQL = """
SELECT hour, toFloat64(sum(pay_amount)) AS amount, toFloat64(sum(promotion_amount)) AS promoted
FROM dws_sale_out_hourly
WHERE hour >= toDateTime({start:DateTime('Asia/Shanghai')}, 'Asia/Shanghai')
  AND hour < toDateTime({end:DateTime('Asia/Shanghai')}, 'Asia/Shanghai')
GROUP BY hour"""

_DAILY_SQL = """
SELECT shop_id, toDate(hour) AS day, toFloat64(sum(pay_amount)) AS amount,
       toFloat64(sum(promotion_amount)) AS promoted
FROM dws_sale_out_hourly
WHERE toDate(hour) >= {start:Date} AND toDate(hour) < {end:Date}
GROUP BY shop_id, day
SETTINGS prefer_column_name_to_alias = 1"""


@dataclass(frozen=True)
class ForecastRun:
    today: date
    hourly_model: str
    hourly_total: float
    shops: int
    daily_model: str  # of the first shop (all shops use the same unless one lacks history)


def is_promotion(amount: float, promoted: float) -> bool:
    return amount > 0 and promoted > PROMOTION_SHARE * amount


def hourly_series(
    rows: list[tuple[datetime, float, float]], today: date, days: int = HOURLY_HISTORY_DAYS
) -> tuple[list[float], list[bool]]:
    """Whole hours of the ``days`` days before ``today``, zero where nothing shipped."""
    start = datetime.combine(today - timedelta(days=days), datetime.min.time(), SHANGHAI)
    amounts = [0.0] * (days * 24)
    flags = [False] * (days * 24)
    for hour, amount, promoted in rows:
        index = int((hour.astimezone(SHANGHAI) - start).total_seconds() // 3600)
        if 0 <= index < len(amounts):
            amounts[index] += amount
            flags[index] = is_promotion(amounts[index], promoted)
    return amounts, flags


def daily_series(
    rows: list[tuple[int, date, float, float]], today: date, days: int = DAILY_HISTORY_DAYS
) -> dict[int, tuple[list[float], list[bool]]]:
    """Per shop, whole days of the ``days`` before ``today``, zero where nothing shipped."""
    first = today - timedelta(days=days)
    series: dict[int, tuple[list[float], list[bool]]] = {}
    for shop_id, day, amount, promoted in rows:
        amounts, flags = series.setdefault(int(shop_id), ([0.0] * days, [False] * days))
        index = (day - first).days
        if 0 <= index < days:
            amounts[index] = amount
            flags[index] = is_promotion(amount, promoted)
    return series


def replace_table(client: Any, table: str, rows: list[list[Any]], columns: list[str]) -> None:
    """Make ``table`` hold exactly ``rows``, atomically for its readers."""
    staging = f"{table}_next_{uuid.uuid4().hex[:12]}"
    client.command(f"CREATE TABLE {staging} AS {table}")
    try:
        if rows:
            client.insert(staging, rows, column_names=columns)
        client.command(f"EXCHANGE TABLES {table} AND {staging}")
    finally:
        client.command(f"DROP TABLE IF EXISTS {staging}")


def run_once(client: Any, now: datetime | None = None) -> ForecastRun:
    """Forecast today (hourly) and the next 30 days per shop; write both tables."""
    now = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI)
    today = now.date()
    midnight = datetime.combine(today, datetime.min.time(), SHANGHAI)
    hourly_rows = client.query(
        _HOURLY_SQL,
        parameters={"start": midnight - timedelta(days=HOURLY_HISTORY_DAYS), "end": midnight},
    ).result_rows
    amounts, flags = hourly_series([tuple(row) for row in hourly_rows], today)
    hourly = model.forecast_hourly(amounts, flags)
    generated = now.replace(tzinfo=None)
    replace_table(
        client,
        "dws_outbound_forecast_hourly",
        [
            [midnight + timedelta(hours=step), value, hourly.model, generated]
            for step, value in enumerate(hourly.values)
        ],  # fmt: skip
        ["hour", "amount", "model", "generated_at"],
    )
    daily_rows = client.query(
        _DAILY_SQL,
        parameters={"start": today - timedelta(days=DAILY_HISTORY_DAYS), "end": today},
    ).result_rows
    rows: list[list[Any]] = []
    models = []
    for shop_id, (shop_amounts, shop_flags) in sorted(
        daily_series([tuple(row) for row in daily_rows], today).items()
    ):
        daily = model.forecast_daily(shop_amounts, shop_flags, DAILY_HORIZON_DAYS)
        models.append(daily.model)
        rows += [[shop_id, today + timedelta(days=step), value, step + 1, daily.model, generated]
                 for step, value in enumerate(daily.values)]  # fmt: skip
    replace_table(
        client,
        "dws_outbound_forecast_daily",
        rows,
        ["shop_id", "day", "amount", "horizon_days", "model", "generated_at"],
    )
    run = ForecastRun(today, hourly.model, sum(hourly.values), len(models),
                      models[0] if models else "")  # fmt: skip
    LOG.info("forecast for %s: hourly %s (%.2f 元 in 24 h), daily %s for %d shops",
             run.today, run.hourly_model, run.hourly_total, run.daily_model, run.shops)  # fmt: skip
    return run


def run_every(client: Any, seconds: float, stop: threading.Event) -> None:
    """Forecast now, then every ``seconds`` until ``stop`` is set; a failed run is logged
    and retried at the next tick (the previous forecast stays on screen meanwhile)."""
    while True:
        try:
            run_once(client)
        except Exception:  # noqa: BLE001 - one bad run must not end the service
            LOG.exception("forecast run failed; the previous forecast stays until the next run")
        if stop.wait(seconds):
            return
