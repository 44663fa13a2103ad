"""Outbound forecasts: today's 24 hourly amounts, and daily amounts 7 and 30 days ahead.

The model is statsmodels (a well-kept, pure-Python/NumPy statistics library with wheels
everywhere, no compiler and no model files to download):

- **Hourly** (today's curve): MSTL splits the log of the hourly amounts into a trend, a
  daily (24 h) and a weekly (168 h) seasonal part and a remainder. The trend plus
  remainder is forecast by Holt's damped-trend exponential smoothing, the seasonal parts
  repeat their last cycle. One ExponentialSmoothing with a 168-hour season would need
  168 seasonal states from a few weeks of data; MSTL estimates both seasons robustly
  (LOESS) from the same weeks.
- **Daily** (7 and 30 days, per shop): Holt-Winters exponential smoothing of the log of
  the daily amounts with a damped additive trend and a 7-day (weekday) season.

Promotions (documents labelled 大促 in the ERP) are not the ordinary demand the next day
will see: before fitting, every hour in which promotion documents made up most of the
amount is replaced by the same hour one week earlier (or, with no clean week before it,
by the median of that hour of day), so a promotion neither inflates the following week
nor distorts the seasons. A promotion in the forecast period is not predicted (there is
no promotion calendar in the ERP data); the war report (screen 7) shows it live.

The log makes the seasons multiplicative (the night trough and the evening peak scale
with the level) and keeps forecasts positive. Every function here is pure: series in,
forecast out; :mod:`warehouse.forecast.job` reads and writes the warehouse.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

HOURS_PER_DAY = 24
HOURS_PER_WEEK = 168
MIN_HOURLY_HISTORY = 2 * HOURS_PER_WEEK  # MSTL needs two cycles of the longest season
MIN_DAILY_HISTORY = 14
MODEL_HOURLY = "mstl-holt"
MODEL_DAILY = "holt-winters-7"
MODEL_FALLBACK = "mean-7d"


@dataclass(frozen=True)
class Forecast:
    values: tuple[float, ...]
    model: str  # which model produced it (the fallback when history is too short)


def cleaned_of_promotions(amounts: Sequence[float], promotion: Sequence[bool]) -> np.ndarray:
    """The series with promotion hours replaced by what that hour looked like without one:
    the same hour a week earlier if that was clean, else the median of the clean values at
    the same position of the day."""
    values = np.asarray(amounts, dtype=float).copy()
    flags = np.asarray(promotion, dtype=bool)
    if not flags.any():
        return values
    clean = ~flags
    for index in np.flatnonzero(flags):
        earlier = index - HOURS_PER_WEEK
        if earlier >= 0 and clean[earlier]:
            values[index] = values[earlier]
            continue
        same_hour = np.arange(index % HOURS_PER_DAY, len(values), HOURS_PER_DAY)
        usable = same_hour[clean[same_hour]]
        values[index] = float(np.median(values[usable])) if usable.size else 0.0
    return values


def _leading_empty(values: np.ndarray, period: int) -> int:
    """Index where the first ``period`` (day) with any amount begins."""
    for start in range(0, len(values), period):
        if values[start : start + period].any():
            return start
    return len(values)


def seven_day_mean(history: Sequence[float], horizon: int = HOURS_PER_DAY) -> Forecast:
    """Each hour of day: the mean of the same hour over the last 7 days (the old screen)."""
    values = np.asarray(history, dtype=float)
    days = min(7, len(values) // HOURS_PER_DAY)
    if days == 0:
        return Forecast(tuple(0.0 for _ in range(horizon)), MODEL_FALLBACK)
    last = values[len(values) - days * HOURS_PER_DAY :].reshape(days, HOURS_PER_DAY)
    profile = last.mean(axis=0)
    start = len(values) % HOURS_PER_DAY
    return Forecast(
        tuple(float(profile[(start + step) % HOURS_PER_DAY]) for step in range(horizon)),
        MODEL_FALLBACK,
    )


def seasonal_naive(history: Sequence[float], horizon: int = HOURS_PER_DAY,
                   season: int = HOURS_PER_WEEK) -> Forecast:  # fmt: skip
    """The same hour one season (a week) earlier."""
    values = np.asarray(history, dtype=float)
    return Forecast(
        tuple(float(values[len(values) - season + (step % season)]) for step in range(horizon)),
        "seasonal-naive",
    )


def forecast_hourly(
    history: Sequence[float],
    promotion: Sequence[bool] | None = None,
    horizon: int = HOURS_PER_DAY,
) -> Forecast:
    """The next ``horizon`` hourly amounts after ``history`` (whole days of hours, oldest
    first, ending at midnight). Leading days without any amount are before the data began
    and are left out."""
    values = cleaned_of_promotions(history, promotion or [False] * len(history))
    values = values[_leading_empty(values, HOURS_PER_DAY) :]
    if len(values) < MIN_HOURLY_HISTORY:
        return seven_day_mean(values.tolist(), horizon)
    from statsmodels.tsa.holtwinters import ExponentialSmoothing  # type: ignore[import-untyped]
    from statsmodels.tsa.seasonal import MSTL  # type: ignore[import-untyped]

    logged = np.log1p(np.maximum(values, 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short or flat series
        parts = MSTL(logged, periods=(HOURS_PER_DAY, HOURS_PER_WEEK)).fit()
        seasonal = np.asarray(parts.seasonal)  # columns: daily, weekly
        level = logged - seasonal.sum(axis=1)
        smoothed = ExponentialSmoothing(level, trend="add", damped_trend=True).fit()
        ahead = np.asarray(smoothed.forecast(horizon))
    steps = np.arange(horizon)
    daily = seasonal[len(logged) - HOURS_PER_DAY + steps % HOURS_PER_DAY, 0]
    weekly = seasonal[len(logged) - HOURS_PER_WEEK + steps % HOURS_PER_WEEK, 1]
    result = np.expm1(ahead + daily + weekly)
    return Forecast(tuple(float(max(0.0, value)) for value in result), MODEL_HOURLY)


def forecast_daily(
    history: Sequence[float],
    promotion: Sequence[bool] | None = None,
    horizon: int = 30,
) -> Forecast:
    """The next ``horizon`` daily amounts after ``history`` (whole days, oldest first).
    Promotion days are replaced by the same weekday a week before, as hours are."""
    values = np.asarray(history, dtype=float).copy()
    flags = np.asarray(promotion if promotion is not None else [False] * len(values), dtype=bool)
    start = _leading_empty(values, 1)
    values, flags = values[start:], flags[start:]
    for index in np.flatnonzero(flags):
        values[index] = values[index - 7] if index >= 7 and not flags[index - 7] else np.nan
    if np.isnan(values).any():
        values[np.isnan(values)] = np.nanmedian(values) if np.isfinite(values).any() else 0.0
    if len(values) < MIN_DAILY_HISTORY:
        mean = float(values[-7:].mean()) if len(values) else 0.0
        return Forecast(tuple(mean for _ in range(horizon)), MODEL_FALLBACK)
    from statsmodels.tsa.holtwinters import ExponentialSmoothing  # type: ignore[import-untyped]

    logged = np.log1p(np.maximum(values, 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = ExponentialSmoothing(
            logged, trend="add", damped_trend=True, seasonal="add", seasonal_periods=7
        ).fit()
        ahead = np.asarray(fitted.forecast(horizon))
    return Forecast(tuple(float(max(0.0, value)) for value in np.expm1(ahead)), MODEL_DAILY)


def wape(actual: Sequence[float], forecast: Sequence[float]) -> float:
    """Weighted absolute percentage error: sum |actual - forecast| / sum actual."""
    truth = np.asarray(actual, dtype=float)
    guess = np.asarray(forecast, dtype=float)
    total = float(np.abs(truth).sum())
    return float(np.abs(truth - guess).sum()) / total if total else float("nan")
