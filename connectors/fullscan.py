"""Full-scan dimensions (warehouse, shop): short lists without any incremental field.

Each refresh reads the list whole and produces only rows whose content changed since
the last refresh (a digest per key kept in the cursor state), on a compacted topic. To
spare the per-app quota a refresh happens at most every ``refresh_seconds``, unless the
last one failed: then the scan is parked (see :mod:`connectors.retries`) and retried on
the next sync. Digests are saved only after Kafka acknowledged the changed rows.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, ClassVar

from connectors import initial_load
from connectors.base import PageProgress, PageQuery, Partition, StreamConnector, SyncReport
from connectors.errors import RetriableApiError
from connectors.kafka_producer import encode_json
from connectors.models import now_millis
from connectors.retries import pending_windows

WHOLE_LIST = Partition("all", {}, {})
SCAN_WINDOW = "full:all"


class FullScanConnector(StreamConnector):
    key_field: ClassVar[str]
    list_page_size: ClassVar[int] = 100
    refresh_seconds: float = 300.0

    def key_for(self, row: Any, partition: Partition) -> dict[str, Any]:
        return {self.key_field: getattr(row, self.key_field)}

    def _read_all(self) -> tuple[list[Any], int]:
        raw_rows: list[Any] = []
        page_index = 1
        while not self.stopped:
            page = self.source.query(
                self.stream, PageQuery(page_size=self.list_page_size, page_index=page_index)
            )
            raw_rows.extend(page.rows)
            if not page.has_next or not page.rows:
                break
            page_index += 1
        return raw_rows, page_index

    def sync_once(self) -> SyncReport:
        report = SyncReport(self.stream)
        state = self.store.load(self.stream)
        parked = bool(pending_windows(state))
        if not parked and time.time() - state.get("refreshed_at", 0) < self.refresh_seconds:
            return report
        try:
            raw_rows, pages = self._read_all()
        except RetriableApiError as error:
            self.park(state, SCAN_WINDOW, {"scan": "all"}, error, report)
            return report
        if self.stopped:
            return report
        initial_load.begin(state, ["all"], self.list_page_size, now_millis())
        initial_load.record(state, "all", rows=len(raw_rows), total=0, now_ms=now_millis(),
                            done=True)  # fmt: skip
        rows, dead = self.validate(raw_rows, WHOLE_LIST)
        digests: dict[str, str] = state.setdefault("digests", {})
        changed = []
        for row in rows:
            key = str(getattr(row, self.key_field))
            digest = hashlib.sha1(encode_json(row.model_dump(mode="json"))).hexdigest()
            if digests.get(key) != digest:
                changed.append(row)
                digests[key] = digest
        state["refreshed_at"] = time.time()
        self.commit_page(self.to_messages(changed, WHOLE_LIST), dead, state)
        self.unpark(state, SCAN_WINDOW)
        self.report_page(
            report,
            PageProgress(
                stream=self.stream, partition="all", page=pages, rows=len(raw_rows),
                produced=len(changed), dead_letters=len(dead), duplicates_dropped=0,
                cursor=f"{len(digests)} known", has_next=False,
            ),
        )  # fmt: skip
        return report
