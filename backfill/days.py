"""Which days of which streams a backfill re-pulls: ERP days (Asia/Shanghai, ``modified``).

A day is the window ``[00:00, next 00:00)`` of Beijing time on the ERP's ``modified``: the
ERP answers the rows whose newest version was modified that day. The fact streams are the
ones the warehouse keeps versions of; dimensions are re-read whole by the live connector.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from common.streams import FACT_STREAMS
from connectors.models import BEIJING

BACKFILL_STREAMS = FACT_STREAMS


@dataclass(frozen=True)
class Day:
    day: date

    @property
    def begin(self) -> datetime:
        return datetime.combine(self.day, time(0, 0), BEIJING)

    @property
    def end(self) -> datetime:
        """The API compares ``modified`` to both ends inclusively, to the second."""
        return self.begin + timedelta(days=1) - timedelta(seconds=1)

    def __str__(self) -> str:
        return self.day.isoformat()


def days_between(first: date, last: date) -> Iterator[Day]:
    """Every day from ``first`` to ``last``, both included."""
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    for offset in range((last - first).days + 1):
        yield Day(first + timedelta(days=offset))


def yesterday(today: date | None = None) -> date:
    """T-1 in Beijing."""
    return (today or datetime.now(BEIJING).date()) - timedelta(days=1)
