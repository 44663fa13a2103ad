"""Modified-time window loop for streams the API offers no ``ts`` cursor for (e.g. SKU).

State: ``window_end`` (the end of the last fully read window, Beijing time) and
``boundary_keys`` (``key|modified`` of rows produced within ``overlap`` of that end).
The first sync reads the whole list by page (no time filter: one call per page, none
per empty week). Each later sync reads ``[window_end - overlap, now]`` in windows of at
most ``window`` (the API allows 7 days), so rows committed late near the boundary are
not missed; rows already produced there are dropped by key + modified. ``window_end``
never moves past the start of the current sync.

Paging by ``page_index`` can skip a row when another row leaves the window while we
page; if ``data_count`` changes between pages the window is read again (bounded).

Commit order per page: fetch -> produce -> flush (acks); the cursor (``window_end``) is
saved after the last page of a window, i.e. after every record of it is acknowledged.

A window whose pages still fail after the client's retries is parked in the state
(``retry_windows``, with a dead letter; adjacent failures merge into one window of at
most 7 days) and read again first on the next sync, so one bad window never blocks the
stream. A quota refusal ends this stream's round after parking.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from connectors import initial_load
from connectors.base import PageProgress, PageQuery, Partition, StreamConnector, SyncReport
from connectors.errors import RateLimitedError, RetriableApiError
from connectors.models import BEIJING, format_erp_time, now_millis, parse_erp_time
from connectors.retries import pending_windows

log = logging.getLogger(__name__)

MAX_WINDOW = timedelta(days=7)
WHOLE_STREAM = Partition("all")
WHOLE_LIST_WINDOW = "list:all"


def beijing_now() -> datetime:
    return datetime.now(BEIJING).replace(microsecond=0)


class ModifiedWindowConnector(StreamConnector):
    max_window_rereads: ClassVar[int] = 3
    whole_list_first: bool = True  # first load without time filter (see below)
    list_key_field: ClassVar[str] = "sku_id"  # a row's identity in the raw answer

    def __init__(
        self,
        *args: Any,
        window: timedelta = MAX_WINDOW,
        overlap: timedelta = timedelta(minutes=2),
        initial_lookback: timedelta = timedelta(days=365),
        clock: Callable[[], datetime] = beijing_now,
        whole_list_first: bool | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        if whole_list_first is not None:
            self.whole_list_first = whole_list_first
        self.window = min(window, MAX_WINDOW)
        self.overlap = overlap
        self.initial_lookback = initial_lookback
        self.clock = clock

    @abstractmethod
    def dedupe_key(self, row: Any) -> str:
        """Identity of a row version: key + modified."""

    @abstractmethod
    def modified_of(self, row: Any) -> datetime:
        """When the row version was modified (aware, Beijing)."""

    def window_filters(self) -> dict[str, Any]:
        return {}

    def probe(self) -> None:
        end = self.clock()
        self.source.query(
            self.stream,
            PageQuery(
                page_size=1,
                modified_begin=end - timedelta(minutes=1),
                modified_end=end,
                filters=self.window_filters(),
            ),
        )

    def sync_once(self) -> SyncReport:
        report = SyncReport(self.stream)
        sync_start = self.clock()
        state = self.store.load(self.stream)
        if not self._retry_parked(state, report):
            return report
        if "window_end" not in state and self.whole_list_first:
            self._read_whole_list(state, sync_start, report)
            return report  # everything up to sync_start is read (or parked for retry)
        if "window_end" in state:
            begin = parse_erp_time(state["window_end"]) - self.overlap
        else:
            begin = sync_start - self.initial_lookback
        boundary = set(state.get("boundary_keys", []))
        while begin < sync_start and not self.stopped:
            end = min(begin + self.window, sync_start)
            try:
                seen = self._read_window(begin, end, boundary, report)
            except RetriableApiError as error:
                self._park_window(state, begin, end, error, report)
                if isinstance(error, RateLimitedError):
                    break
                boundary, begin = set(), end
                continue
            if self.stopped:
                break  # window incomplete: keep the old cursor
            keep_from = end - self.overlap
            state["window_end"] = format_erp_time(end)
            state["boundary_keys"] = sorted(
                key for key, modified in seen.items() if modified >= keep_from
            )
            self.commit_page([], [], state)
            boundary = set(state["boundary_keys"])
            begin = end
        return report

    def _read_whole_list(
        self, state: dict[str, Any], sync_start: datetime, report: SyncReport
    ) -> None:
        """First load: the whole list by page, no time filter (the API allows neither
        bound), so a year of mostly empty 7-day windows costs nothing. Paging can skip a
        row when another one moves to the end while we page; then fewer distinct keys
        than ``data_count`` came back and the list is read again (bounded). A failure
        parks the read: the next sync starts the list again."""
        initial_load.begin(state, ["all"], self.page_size, now_millis())
        seen: dict[str, datetime] = {}
        keys: set[Any] = set()  # across attempts: a row skipped once is found on a reread
        for attempt in range(1, self.max_window_rereads + 1):
            initial_load.restart(state, "all")
            count: int | None = None
            page_index = 1
            while not self.stopped:
                try:
                    page = self.source.query(
                        self.stream,
                        PageQuery(page_size=self.page_size, page_index=page_index,
                                  filters=self.window_filters(), with_total=True),
                    )  # fmt: skip
                except RetriableApiError as error:  # the next round reads the list again
                    self.park(state, WHOLE_LIST_WINDOW, {"scan": "whole list"}, error, report)
                    return
                count = page.data_count if page.data_count is not None else count
                keys.update(row.get(self.list_key_field) for row in page.rows
                            if isinstance(row, dict))  # fmt: skip
                valid, dead = self.validate(page.rows, WHOLE_STREAM)
                fresh = []
                for row in valid:
                    key = self.dedupe_key(row)
                    if key not in seen:
                        seen[key] = self.modified_of(row)
                        fresh.append(row)
                initial_load.record(state, "all", rows=len(page.rows), now_ms=now_millis(),
                                    total=page.data_count if page_index == 1 else None)  # fmt: skip
                self.commit_page(self.to_messages(fresh, WHOLE_STREAM), dead, state)
                self.report_page(
                    report,
                    PageProgress(self.stream, "whole list", page_index, len(page.rows),
                                 len(fresh), len(dead), len(valid) - len(fresh),
                                 f"page {page_index}", page.has_next),
                )  # fmt: skip
                if not page.has_next or not page.rows:
                    break
                page_index += 1
            if self.stopped:
                return
            if count is None or len(keys) >= count:
                break
            log.warning("%s whole list changed while paging (%d of %d keys): reading again (%d)",
                        self.stream, len(keys), count, attempt)  # fmt: skip
        keep_from = sync_start - self.overlap
        state["window_end"] = format_erp_time(sync_start)
        state["boundary_keys"] = sorted(key for key, modified in seen.items()
                                        if modified >= keep_from)  # fmt: skip
        initial_load.record(state, "all", rows=0, now_ms=now_millis(), done=True)
        self.commit_page([], [], state)
        self.unpark(state, WHOLE_LIST_WINDOW)

    def _park_window(
        self,
        state: dict[str, Any],
        begin: datetime,
        end: datetime,
        error: RetriableApiError,
        report: SyncReport,
    ) -> None:
        """Park ``[begin, end]`` (merged into an adjacent parked window when it fits)."""
        for entry in pending_windows(state):
            if "modified_begin" not in entry["query"]:
                continue
            old_begin = parse_erp_time(entry["query"]["modified_begin"])
            old_end = parse_erp_time(entry["query"]["modified_end"])
            if old_end >= begin - self.overlap and end - old_begin <= MAX_WINDOW:
                begin = min(begin, old_begin)
                state["window_end"] = format_erp_time(max(end, old_end))
                self.park(state, entry["id"], self._window_query(begin, end), error, report)
                return
        state["window_end"] = format_erp_time(end)
        state["boundary_keys"] = []
        self.park(state, f"window:{format_erp_time(begin)}", self._window_query(begin, end),
                  error, report)  # fmt: skip

    @staticmethod
    def _window_query(begin: datetime, end: datetime) -> dict[str, str]:
        return {"modified_begin": format_erp_time(begin), "modified_end": format_erp_time(end)}

    def _retry_parked(self, state: dict[str, Any], report: SyncReport) -> bool:
        """Read parked windows again; False when the round should end (quota, stop)."""
        for entry in pending_windows(state):
            if self.stopped:
                return False
            if "modified_begin" not in entry["query"]:
                continue  # the whole-list read: sync_once starts it again
            begin = parse_erp_time(entry["query"]["modified_begin"])
            end = parse_erp_time(entry["query"]["modified_end"])
            try:
                self._read_window(begin, end, set(), report)
            except RetriableApiError as error:
                self.park(state, entry["id"], entry["query"], error, report)
                if isinstance(error, RateLimitedError):
                    return False
                continue
            if self.stopped:
                return False
            self.unpark(state, entry["id"])
        return True

    def _read_window(
        self, begin: datetime, end: datetime, boundary: set[str], report: SyncReport
    ) -> dict[str, datetime]:
        """Produce every row of ``[begin, end]`` not yet produced; return what was seen."""
        seen: dict[str, datetime] = {}
        label = f"{format_erp_time(begin)}..{format_erp_time(end)}"
        for attempt in range(1, self.max_window_rereads + 1):
            counts: set[int] = set()
            page_index = 1
            while not self.stopped:
                page = self.source.query(
                    self.stream,
                    PageQuery(
                        page_size=self.page_size,
                        page_index=page_index,
                        modified_begin=begin,
                        modified_end=end,
                        filters=self.window_filters(),
                    ),
                )
                if page.data_count is not None:
                    counts.add(page.data_count)
                valid, dead = self.validate(page.rows, WHOLE_STREAM)
                fresh = []
                for row in valid:
                    key = self.dedupe_key(row)
                    if key in seen:
                        continue
                    # Rows produced by the last sync are seen too (not produced again), so
                    # they stay in the boundary while they are within the overlap.
                    seen[key] = self.modified_of(row)
                    if key not in boundary:
                        fresh.append(row)
                self.commit_page(self.to_messages(fresh, WHOLE_STREAM), dead, None)
                self.report_page(
                    report,
                    PageProgress(
                        self.stream,
                        label,
                        page_index,
                        len(page.rows),
                        len(fresh),
                        len(dead),
                        len(valid) - len(fresh),
                        format_erp_time(begin),
                        page.has_next,
                    ),
                )
                if not page.has_next or not page.rows:
                    break
                page_index += 1
            if len(counts) <= 1:
                return seen
            log.warning(
                "%s window %s changed while paging (counts %s): reading again (%d)",
                self.stream,
                label,
                sorted(counts),
                attempt,
            )
        return seen
