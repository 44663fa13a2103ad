"""How many orders arrive when: the seasonal shape, the daily curve, promotions.

The rate is ``base orders/hour x month factor x weekday factor x hour factor``, each
factor averaging 1, so the configured base is the year's average hourly rate. The year
rises from January to a July peak and falls from August (the reference data's shape); the
week is busier from Friday to Sunday; a day has a night trough and an evening peak.

Promotions come two ways. The merchant's own calendar (PROMOTION_CALENDAR: 618, 双11,
双12 and a brand day on the 8th of every month) multiplies the curve on those days, so
history has the spikes a forecast must not mistake for ordinary demand. A promotion
started through the control API replaces the curve with its own flat rate (up to the
50,000 orders/hour of the reference case's peak). Orders of either kind are labelled 大促.

Arrivals form a Poisson process with a rate that is constant within each minute;
memorylessness makes restarting the draw at every minute boundary exact.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

_MONTH = [0.60, 0.68, 0.78, 0.88, 1.00, 1.15, 1.38, 1.26, 1.12, 1.02, 0.92, 0.84]
_HOUR = [
    0.45, 0.28, 0.16, 0.10, 0.08, 0.10, 0.22, 0.45, 0.75, 0.98, 1.10, 1.15,
    1.12, 1.05, 1.08, 1.10, 1.08, 1.05, 1.12, 1.35, 1.70, 1.85, 1.55, 0.95,
]  # fmt: skip
_WEEKDAY = [0.94, 0.92, 0.95, 0.97, 1.05, 1.12, 1.05]  # Monday first
MONTH_FACTORS = [value * 12 / sum(_MONTH) for value in _MONTH]
WEEKDAY_FACTORS = [value * 7 / sum(_WEEKDAY) for value in _WEEKDAY]
HOUR_FACTORS = [value * 24 / sum(_HOUR) for value in _HOUR]
# (month, day) -> demand multiplier on that calendar day; day 0 = every month's 8th.
PROMOTION_CALENDAR: dict[tuple[int, int], float] = {
    (6, 18): 4.0,  # 618
    (11, 11): 5.0,  # 双11
    (12, 12): 2.5,  # 双12
    (0, 8): 1.8,  # monthly brand day
}


def calendar_promotion(moment: datetime) -> float:
    """The calendar's multiplier for ``moment``'s day (1.0 on an ordinary day)."""
    return PROMOTION_CALENDAR.get(
        (moment.month, moment.day), PROMOTION_CALENDAR.get((0, moment.day), 1.0)
    )
STEP = timedelta(minutes=1)

RateFunction = Callable[[datetime], float]


@dataclass
class Promotion:
    """A flat order rate between two instants (end None: until stopped)."""

    orders_per_hour: float
    start: datetime
    end: datetime | None = None

    def active(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)


@dataclass
class DemandCurve:
    base_orders_per_hour: float
    follow_curve: bool = True

    def factor(self, moment: datetime) -> float:
        if not self.follow_curve:
            return 1.0
        return (
            MONTH_FACTORS[moment.month - 1]
            * WEEKDAY_FACTORS[moment.weekday()]
            * HOUR_FACTORS[moment.hour]
            * calendar_promotion(moment)
        )

    def in_promotion(self, moment: datetime) -> bool:
        """A calendar promotion day (only when the curve is followed)."""
        return self.follow_curve and calendar_promotion(moment) > 1.0

    def rate(self, moment: datetime, promotions: list[Promotion] | None = None) -> float:
        """Orders per hour at ``moment``; the latest active promotion wins."""
        for promotion in reversed(promotions or []):
            if promotion.active(moment):
                return promotion.orders_per_hour
        return self.base_orders_per_hour * self.factor(moment)


def _minute_end(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + STEP


def next_arrival(
    rng: random.Random, after: datetime, rate: RateFunction, limit: datetime
) -> datetime | None:
    """The next order time after ``after``, or None if none comes before ``limit``."""
    moment = after
    while moment < limit:
        per_hour = rate(moment)
        boundary = min(_minute_end(moment), limit)
        if per_hour > 0:
            candidate = moment + timedelta(seconds=rng.expovariate(per_hour / 3600.0))
            if candidate < boundary:
                return candidate
        moment = boundary
    return None


def arrival_times(
    rng: random.Random, start: datetime, end: datetime, rate: RateFunction
) -> list[datetime]:
    """Every order time in ``[start, end)``: what a stretch of history looks like."""
    times: list[datetime] = []
    moment: datetime | None = start
    while moment is not None:
        moment = next_arrival(rng, moment, rate, end)
        if moment is not None:
            times.append(moment)
    return times
