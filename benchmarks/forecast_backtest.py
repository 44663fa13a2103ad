"""Forecast backtest on the ERP simulator's seasonal history. Prints WAPE tables.

The simulator plays ``--days`` of history (season by month, weekday, the daily curve, its
calendar promotions: 618, 双11, 双12, a brand day on every 8th) ending ``--end``. For each
of the last ``--test-days`` days, every method sees only the hours before that day (the
confirmed outbound amount per hour, and which hours were promotions, as the warehouse
has them) and forecasts its 24 hours:

- model: warehouse.forecast.model.forecast_hourly (MSTL + damped Holt, promotions cleaned)
- 7-day mean: each hour of day, the mean of the previous 7 days (the old screen's curve)
- seasonal-naive: the same hour one week earlier

WAPE = sum |actual - forecast| / sum actual over every test hour; also printed without the
promotion days themselves (no method is told a promotion is coming). The daily forecast
(per shop, 7 and 30 days ahead, Holt-Winters with a weekday season) is scored the same
way against a 7-day mean and the same weekday a week earlier.

Usage: .cache/venvs/core/bin/python benchmarks/forecast_backtest.py [--days 150]
       [--test-days 60] [--orders-per-hour 120] [--end 2026-12-01]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from common.settings import SimulatorSettings  # noqa: E402
from connectors.models import BEIJING  # noqa: E402
from erp_simulator.engine import TrafficSettings  # noqa: E402
from erp_simulator.server import build_business  # noqa: E402
from warehouse.forecast import model  # noqa: E402

Method = Callable[[Sequence[float], Sequence[bool]], Sequence[float]]


def hourly_history(days: int, end: datetime, orders_per_hour: float, seed: int) -> tuple[
    list[datetime], list[float], list[bool], dict[tuple[int, date], float], set[date]
]:  # fmt: skip
    """Confirmed outbound amount per hour (by io_date, as dws_sale_out_hourly) and per shop
    and day, with the promotion hours (most of the hour's amount labelled 大促)."""
    settings = SimulatorSettings(seed=seed, sku_count=300, warehouse_count=2)
    store, _ = build_business(
        settings, TrafficSettings(backfill_days=days, orders_per_hour=orders_per_hour), now=end
    )
    amount: dict[datetime, float] = defaultdict(float)
    promoted: dict[datetime, float] = defaultdict(float)
    per_shop: dict[tuple[int, date], float] = defaultdict(float)
    for row in store.rows("outbound"):
        if row["status"] != "Confirmed" or not row.get("io_date"):
            continue
        at = datetime.strptime(row["io_date"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        hour = at.replace(minute=0, second=0, microsecond=0)
        amount[hour] += float(row["pay_amount"])
        per_shop[(int(row["shop_id"]), hour.date())] += float(row["pay_amount"])
        if "大促" in str(row.get("labels") or ""):
            promoted[hour] += float(row["pay_amount"])
    first = (end - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    hours = [first + timedelta(hours=n) for n in range(int((end - first).total_seconds() // 3600))]
    promotion_days = {hour.date() for hour in hours if promoted[hour] > 0.5 * amount[hour] > 0}
    return (hours, [amount[h] for h in hours], [promoted[h] > 0.5 * amount[h] > 0 for h in hours],
            per_shop, promotion_days)  # fmt: skip


def score_hourly(hours: list[datetime], values: list[float], flags: list[bool], test_days: int,
                 promotion_days: set[date]) -> dict[str, dict[str, float]]:  # fmt: skip
    methods: dict[str, Method] = {
        "model (MSTL + Holt)": lambda h, f: model.forecast_hourly(h, f).values,
        "7-day mean": lambda h, f: model.seven_day_mean(h).values,
        "seasonal-naive (a week earlier)": lambda h, f: model.seasonal_naive(h).values,
    }
    actual: dict[str, list[float]] = defaultdict(list)
    guessed: dict[str, list[float]] = defaultdict(list)
    seconds: dict[str, float] = defaultdict(float)
    days = len(hours) // 24
    for day in range(days - test_days, days):
        cut = day * 24
        ordinary = hours[cut].date() not in promotion_days
        for name, method in methods.items():
            began = time.perf_counter()
            forecast = list(method(values[:cut], flags[:cut]))
            seconds[name] += time.perf_counter() - began
            truth = values[cut : cut + 24]
            actual[f"{name}|all"] += truth
            guessed[f"{name}|all"] += forecast
            if ordinary:
                actual[f"{name}|ordinary"] += truth
                guessed[f"{name}|ordinary"] += forecast
    return {
        name: {
            "all": model.wape(actual[f"{name}|all"], guessed[f"{name}|all"]),
            "ordinary": model.wape(actual[f"{name}|ordinary"], guessed[f"{name}|ordinary"]),
            "seconds per forecast": seconds[name] / test_days,
        }
        for name in methods
    }


def score_daily(per_shop: dict[tuple[int, date], float], first: date, last: date,
                test_days: int, horizon: int,
                promotion_days: set[date]) -> dict[str, float]:  # fmt: skip
    """WAPE of the day ``horizon`` days ahead, per shop, origins over the last test days."""
    shops = sorted({shop for shop, _ in per_shop})
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    truth: dict[str, list[float]] = defaultdict(list)
    guess: dict[str, list[float]] = defaultdict(list)
    for shop in shops:
        series = [per_shop.get((shop, day), 0.0) for day in days]
        flags = [day in promotion_days for day in days]
        for target in range(len(days) - test_days, len(days)):
            origin = target - horizon + 1  # history ends the day before the first forecast day
            if origin < model.MIN_DAILY_HISTORY:
                continue
            history = series[:origin]
            forecasts = {
                "model (Holt-Winters, weekday season)": model.forecast_daily(
                    history, flags[:origin], horizon).values[-1],
                "7-day mean": sum(history[-7:]) / 7,
                "seasonal-naive (same weekday)": history[target - 7 * math.ceil(horizon / 7)],
            }  # fmt: skip
            for name, value in forecasts.items():
                truth[name].append(series[target])
                guess[name].append(value)
    return {name: model.wape(truth[name], guess[name]) for name in truth}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=150, help="history the simulator plays")
    parser.add_argument("--test-days", type=int, default=60, help="days forecast and scored")
    parser.add_argument("--orders-per-hour", type=float, default=120.0)
    parser.add_argument(
        "--end", type=date.fromisoformat, default=date(2026, 12, 1),
        help="last day of history (whole days end at midnight after it)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    end = datetime.combine(args.end + timedelta(days=1), datetime.min.time(), tzinfo=BEIJING)
    began = time.monotonic()
    print(f"simulating {args.days} days at {args.orders_per_hour:g} orders/hour ...", flush=True)
    hours, values, flags, per_shop, promotion_days = hourly_history(
        args.days, end, args.orders_per_hour, args.seed
    )
    window = hours[-args.test_days * 24].date()
    promoted = sorted(day.isoformat() for day in promotion_days if day >= window)
    print(f"  {len(hours):,} hours in {time.monotonic() - began:.0f} s; promotion days in the "
          f"test window: {promoted}", flush=True)  # fmt: skip
    hourly = score_hourly(hours, values, flags, args.test_days, promotion_days)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}")  # fmt: skip
    print(f"\n| today's 24 h hourly curve, {args.test_days} days | WAPE all days | "
          "WAPE without promotion days | seconds per forecast |\n|---|---:|---:|---:|")  # fmt: skip
    for name, row in hourly.items():
        print(f"| {name} | {row['all']:.1%} | {row['ordinary']:.1%} | "
              f"{row['seconds per forecast']:.3f} |")  # fmt: skip
    first, last = hours[0].date(), hours[-1].date()
    for horizon in (7, 30):
        daily = score_daily(per_shop, first, last, args.test_days, horizon, promotion_days)
        print(f"\n| daily amount per shop, {horizon} days ahead | WAPE |\n|---|---:|")
        for name, value in daily.items():
            print(f"| {name} | {value:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
