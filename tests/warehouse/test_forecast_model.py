"""The outbound forecast model: seasons recovered, promotions not mistaken for demand."""

from __future__ import annotations

import math
import random

import pytest

from warehouse.forecast import model

pytestmark = pytest.mark.unit

DAY_SHAPE = [0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.4, 0.7, 1.0, 1.2, 1.3, 1.3,
             1.2, 1.2, 1.2, 1.2, 1.2, 1.2, 1.3, 1.6, 2.0, 2.2, 1.8, 1.0]  # fmt: skip
WEEK_SHAPE = [0.9, 0.9, 0.95, 1.0, 1.05, 1.2, 1.1]


def demand(hours: int, level: float = 1000.0, noise: float = 0.0, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [
        level * DAY_SHAPE[h % 24] * WEEK_SHAPE[(h // 24) % 7] * (1 + rng.gauss(0, noise))
        for h in range(hours)
    ]


def test_hourly_model_recovers_the_daily_and_weekly_shape() -> None:
    series = demand(24 * 7 * 6 + 24)
    history, tomorrow = series[:-24], series[-24:]
    forecast = model.forecast_hourly(history)
    assert forecast.model == model.MODEL_HOURLY
    assert len(forecast.values) == 24
    assert model.wape(tomorrow, forecast.values) < 0.05


def test_model_beats_both_baselines_when_the_level_moves() -> None:
    """A level that grows 1 % a day (a season rising to its peak), with noise: a 7-day mean
    lags the level, last week's hour misses the growth and carries last week's noise."""
    days = 7 * 8
    series = [value * 1.01 ** (h // 24) for h, value in enumerate(demand(24 * days, noise=0.08))]
    model_error = mean_error = naive_error = 0.0
    for cut in range(24 * (days - 14), 24 * days, 24):
        truth = series[cut : cut + 24]
        model_error += model.wape(truth, model.forecast_hourly(series[:cut]).values)
        mean_error += model.wape(truth, model.seven_day_mean(series[:cut]).values)
        naive_error += model.wape(truth, model.seasonal_naive(series[:cut]).values)
    assert model_error < mean_error and model_error < naive_error


def test_a_promotion_does_not_inflate_next_weeks_forecast() -> None:
    series = demand(24 * 7 * 5)
    flags = [False] * len(series)
    promotion_day = len(series) - 7 * 24  # exactly a week before the forecast day
    for hour in range(promotion_day, promotion_day + 24):
        series[hour] *= 5
        flags[hour] = True
    with_flags = model.forecast_hourly(series, flags)
    without = model.forecast_hourly(series)
    truth = demand(24 * 7 * 5 + 24)[-24:]
    assert model.wape(truth, with_flags.values) < 0.05
    assert sum(without.values) > 1.5 * sum(with_flags.values)  # the spike leaks in unflagged


def test_short_history_falls_back_to_the_seven_day_mean_of_what_exists() -> None:
    """Three days of data after weeks of nothing (a new merchant): the mean of those days."""
    series = [0.0] * (24 * 20) + demand(24 * 3)
    forecast = model.forecast_hourly(series)
    assert forecast.model == model.MODEL_FALLBACK
    expected = [sum(series[-24 * 3 + h :: 24]) / 3 for h in range(24)]
    assert all(math.isclose(a, b) for a, b in zip(forecast.values, expected, strict=True))


def test_cleaning_uses_the_same_hour_a_week_before_or_the_median_of_the_hour() -> None:
    series = [float(h % 24) for h in range(24 * 9)]
    flags = [False] * len(series)
    series[24 * 8 + 5], flags[24 * 8 + 5] = 999.0, True  # a week before is clean
    series[3], flags[3] = 999.0, True  # nothing a week before: the hour's median
    cleaned = model.cleaned_of_promotions(series, flags)
    assert cleaned[24 * 8 + 5] == 5.0 and cleaned[3] == 3.0


def test_daily_model_keeps_the_weekday_season_and_ignores_promotion_days() -> None:
    level = [1000.0 * WEEK_SHAPE[d % 7] for d in range(7 * 10)]
    flags = [False] * len(level)
    level[-4], flags[-4] = level[-4] * 6, True  # 双11 four days ago
    forecast = model.forecast_daily(level, flags, 30)
    assert forecast.model == model.MODEL_DAILY and len(forecast.values) == 30
    truth = [1000.0 * WEEK_SHAPE[d % 7] for d in range(7 * 10, 7 * 10 + 30)]
    assert model.wape(truth, forecast.values) < 0.05


def test_wape_weights_errors_by_volume() -> None:
    assert model.wape([100, 0, 100], [90, 10, 100]) == pytest.approx(0.1)
    assert math.isnan(model.wape([0, 0], [1, 1]))
