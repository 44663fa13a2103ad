"""WarehouseConnector: the warehouse dimension (name, province) by full scan.

The warehouse API has no incremental field and the list is short, so each refresh
reads it whole and produces only rows whose content changed since the last refresh
(a digest per warehouse kept in the cursor store). To spare the per-app quota a
refresh happens at most every ``refresh_seconds``. Kafka key ``{"wms_co_id": ...}``
on a compacted topic.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from connectors.base import PageProgress, PageQuery, Partition, StreamConnector, SyncReport
from connectors.kafka_producer import encode_json
from connectors.models import WarehouseRow

WHOLE_LIST = Partition("all", {}, {})


class WarehouseConnector(StreamConnector):
    stream = "warehouse"
    row_model = WarehouseRow
    refresh_seconds: float = 300.0

    def key_for(self, row: WarehouseRow, partition: Partition) -> dict[str, Any]:
        return {"wms_co_id": row.wms_co_id}

    def sync_once(self) -> SyncReport:
        report = SyncReport(self.stream)
        state = self.store.load(self.stream)
        if time.time() - state.get("refreshed_at", 0) < self.refresh_seconds:
            return report
        raw_rows: list[Any] = []
        page_index = 1
        while not self.stopped:
            page = self.source.query("warehouse", PageQuery(page_size=100, page_index=page_index))
            raw_rows.extend(page.rows)
            if not page.has_next or not page.rows:
                break
            page_index += 1
        rows, dead = self.validate(raw_rows, WHOLE_LIST)
        digests: dict[str, str] = state.setdefault("digests", {})
        changed = []
        for row in rows:
            digest = hashlib.sha1(encode_json(row.model_dump(mode="json"))).hexdigest()
            if digests.get(str(row.wms_co_id)) != digest:
                changed.append(row)
                digests[str(row.wms_co_id)] = digest
        state["refreshed_at"] = time.time()
        self.commit_page(self.to_messages(changed, WHOLE_LIST), dead, state)
        self.report_page(
            report,
            PageProgress(
                stream=self.stream, partition="all", page=page_index, rows=len(raw_rows),
                produced=len(changed), dead_letters=len(dead), duplicates_dropped=0,
                cursor=f"{len(digests)} known", has_next=False,
            ),
        )  # fmt: skip
        return report
