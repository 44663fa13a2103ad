"""Re-pull whole ERP days of a stream into its Kafka topic, resumable page by page.

Each page goes through the stream's own connector (validation, Kafka key and value, dead
letters), so a re-pulled record is byte for byte what the live sync produced: same key,
same ``ts`` version, and the warehouse (ReplacingMergeTree by ``ts``) collapses what it
already has. Per page, the commit order of :mod:`connectors.base`: fetch -> produce ->
flush (acks) -> save the page reached in ``<run>/data/backfill/<stream>.json``. A backfill
killed at any moment restarts at the first page not yet acknowledged: at most one page is
pulled twice.

A day is paged by ``page_index`` over its ``modified`` window. A row of that day modified
again meanwhile leaves the window, which shifts later rows one place forward, so a page
could be skipped: each page asks for ``data_count``, and when it moved the day is read
again from page 1 (at most ``backfill.max_day_rereads`` times; rows that left the window
are the live sync's, with their newer version).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from backfill.days import Day
from backfill.erp_listing import day_page
from connectors.base import Partition
from connectors.state import CursorStore
from connectors.tscursor import TsCursorConnector

log = logging.getLogger(__name__)


@dataclass
class DayProgress:
    """One (stream, partition, day): where the backfill stands, saved after every page."""

    next_page: int = 1
    done: bool = False
    rows: int = 0
    pages: int = 0
    rereads: int = 0
    data_count: int | None = None

    @classmethod
    def from_state(cls, raw: dict[str, Any] | None) -> DayProgress:
        return cls(**raw) if raw else cls()


@dataclass
class Totals:
    """What a backfill did in this run (for the progress bar and the summary)."""

    calls: int = 0
    rows: int = 0
    dead_letters: int = 0
    pages_left: int = 0  # estimated from data_count: the progress bar's total
    days_done: int = 0  # (stream, warehouse or whole stream, day) slices finished
    days: int = 0  # slices to do
    by_stream: dict[str, int] = field(default_factory=dict)


class DayRepull:
    """Re-pulls days of one stream; ``on_page(totals)`` after every page."""

    def __init__(
        self,
        connector: TsCursorConnector,
        store: CursorStore,
        *,
        max_rereads: int = 3,
        stop_event: threading.Event | None = None,
        on_page: Callable[[Totals], None] | None = None,
    ):
        self.connector = connector
        self.store = store
        self.max_rereads = max_rereads
        self.stop_event = stop_event or threading.Event()
        self.on_page = on_page

    @property
    def stream(self) -> str:
        return self.connector.stream

    @staticmethod
    def slot(partition: Partition, day: Day) -> str:
        return f"{partition.name}|{day}"

    def run(self, days: Sequence[Day], totals: Totals) -> None:
        state = self.store.load(self.stream)
        progress: dict[str, Any] = state.setdefault("days", {})
        partitions = self.connector.partitions()  # warehouses for inventory
        totals.days += len(partitions) * len(days)
        for partition in partitions:
            for day in days:
                if self.stop_event.is_set():
                    return
                key = self.slot(partition, day)
                current = DayProgress.from_state(progress.get(key))
                if current.done:
                    totals.days_done += 1
                    continue
                self._pull_day(partition, day, current, state, key, totals)
                if current.done:
                    totals.days_done += 1

    def _pull_day(
        self,
        partition: Partition,
        day: Day,
        current: DayProgress,
        state: dict[str, Any],
        key: str,
        totals: Totals,
    ) -> None:
        page_size = self.connector.page_size
        estimated = False
        while not self.stop_event.is_set():
            page = day_page(self.connector, partition, day, current.next_page)
            totals.calls += 1
            if self._count_moved(current, page.data_count):
                log.info("%s %s: %d rows now (was %s): reading the day again",
                         self.stream, key, page.data_count, current.data_count)  # fmt: skip
                current.rereads += 1
                current.next_page, current.data_count = 1, page.data_count
                continue
            if current.data_count is None:
                current.data_count = page.data_count
            if not estimated and page.data_count is not None:
                estimated = True  # this day's pages after this one, for the progress bar
                pages = math.ceil(page.data_count / page_size)
                totals.pages_left += max(0, pages - current.next_page)
            elif estimated:
                totals.pages_left = max(0, totals.pages_left - 1)
            valid, dead = self.connector.validate(page.rows, partition)
            messages = self.connector.to_messages(valid, partition)
            self.connector.produce_and_flush(messages, dead)
            current.rows += len(page.rows)
            current.pages += 1
            current.next_page += 1
            current.done = not page.has_next or not page.rows
            state.setdefault("days", {})[key] = current.__dict__.copy()
            self.store.save(self.stream, state)  # after the acks: resume at the next page
            totals.rows += len(valid)
            totals.dead_letters += len(dead)
            totals.by_stream[self.stream] = totals.by_stream.get(self.stream, 0) + len(valid)
            if self.on_page is not None:
                self.on_page(totals)
            if current.done:
                return

    def _count_moved(self, current: DayProgress, data_count: int | None) -> bool:
        return (
            current.next_page > 1
            and data_count is not None
            and current.data_count is not None
            and data_count != current.data_count
            and current.rereads < self.max_rereads
        )
