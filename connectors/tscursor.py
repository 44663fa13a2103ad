"""The documented ``ts`` loop shared by every stream the API gives a rowversion cursor.

Per partition: ``page_index=1``, ``start_ts`` = the largest ``ts`` acknowledged so far.
A row modified while we page gets a new, higher ``ts`` and so comes back on a later
page: nothing is missed, and versions arrive oldest first. Boundary duplicates (sources
comparing ``>=``, the same document twice in a page) are dropped by key + ``ts``.

:meth:`TsCursorConnector.poll` reads one page of one partition (the runner paces each
partition by what it finds); :meth:`~TsCursorConnector.sync_once` reads every partition
until it has caught up. On a first load the first page asks for ``data_count`` once,
for the progress in ``sync --status`` (:mod:`connectors.initial_load`).

A page that still fails after the client's retries parks the partition (its cursor does
not move, see :mod:`connectors.retries`); other partitions go on, unless the failure
was a quota refusal, which ends this stream's round (the quota is shared: hammering on
helps nobody). The next poll resumes from the cursor, which is the retry.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

from connectors import initial_load
from connectors.base import (
    PageProgress,
    PageQuery,
    Partition,
    StreamConnector,
    SyncReport,
)
from connectors.errors import CursorNotAdvancingError, RetriableApiError
from connectors.kafka_producer import encode_json
from connectors.models import now_millis
from connectors.urgency import Urgency


def _raw_ts(row: Any) -> int | None:
    try:
        return int(row["ts"])
    except (KeyError, TypeError, ValueError):
        return None


def _is_newer(row: Any, cursor: int) -> bool:
    """Rows whose ts cannot be read are kept, so that they reach the dead-letter topic."""
    ts = _raw_ts(row)
    return ts is None or ts > cursor


class TsCursorConnector(StreamConnector):
    """Assumes, as the API docs imply, that a ts query answers rows in ascending ``ts``.

    Stops when a page brings nothing newer than the cursor or says ``has_next=false``;
    raises :class:`CursorNotAdvancingError` if ``has_next`` is true but the cursor did not
    move.
    """

    initial_ts: ClassVar[int] = 0

    @abstractmethod
    def partitions(self) -> list[Partition]:
        """The slices to cursor independently (e.g. warehouses)."""

    def poll_targets(self) -> list[str]:
        return [partition.name for partition in self.partitions()]

    def sync_once(self) -> SyncReport:
        """Every partition in turn, page after page, until each has caught up."""
        total = SyncReport(self.stream)
        for name in self.poll_targets():
            while not self.stopped:
                report = self.poll(name)
                total.merge(report)
                if report.parked_windows and report.rate_limited:
                    return total  # the quota is shared: hammering on helps nobody
                if report.parked_windows or not report.more:
                    break
            if self.stopped:
                break
        total.more = False
        return total

    def poll(self, target: str) -> SyncReport:
        """One page of partition ``target`` from its cursor (``more``: a full page)."""
        report = SyncReport(self.stream)
        partition = next(p for p in self.partitions() if p.name == target)
        state = self.store.load(self.stream)
        cursors: dict[str, str] = state.setdefault("cursors", {})
        if not cursors:
            initial_load.begin(state, self.poll_targets(), self.page_size, now_millis())
        window_id = f"ts:{partition.name}"
        try:
            report.more = self._read_page(partition, cursors, state, report)
        except RetriableApiError as error:
            cursor = int(cursors.get(partition.name, self.initial_ts))
            query = {"partition": partition.name, "start_ts": cursor}
            self.park(state, window_id, query, error, report)
            return report
        if not self.stopped:
            self.unpark(state, window_id)
        return report

    def probe(self) -> None:
        partitions = self.partitions()
        state = self.store.load(self.stream)
        partition = partitions[0] if partitions else Partition("all")
        cursor = int(state.get("cursors", {}).get(partition.name, self.initial_ts))
        self.source.query(
            self.stream,
            PageQuery(page_size=1, start_ts=cursor, filters=partition.filters),
        )

    def _dedupe(self, rows: list[Any], partition: Partition) -> list[Any]:
        best: dict[bytes, Any] = {}
        for row in rows:
            key = encode_json(self.key_for(row, partition))
            if key not in best or row.ts > best[key].ts:
                best[key] = row
        return list(best.values())

    def _read_page(
        self,
        partition: Partition,
        cursors: dict[str, str],
        state: dict[str, Any],
        report: SyncReport,
    ) -> bool:
        """Fetch, produce, flush, save one page; True when more pages wait."""
        cursor = int(cursors.get(partition.name, self.initial_ts))
        with_total = initial_load.wants_total(state, partition.name)
        page = self.source.query(
            self.stream,
            PageQuery(
                page_size=self.page_size,
                page_index=1,
                start_ts=cursor,
                filters=partition.filters,
                with_total=with_total,
            ),
        )
        fresh = [row for row in page.rows if _is_newer(row, cursor)]
        if not fresh:
            if initial_load.loading(state, partition.name):
                initial_load.record(state, partition.name, rows=0, now_ms=now_millis(), done=True)
                self.commit_page([], [], state)
            return False
        valid, dead = self.validate(fresh, partition)
        unique = self._dedupe(valid, partition)
        # Dead-lettered rows with a readable ts move the cursor too: else they repeat forever.
        readable = [ts for ts in map(_raw_ts, fresh) if ts is not None]
        new_cursor = max([cursor, *readable])
        cursors[partition.name] = str(new_cursor)
        initial_load.record(
            state, partition.name, rows=len(fresh), now_ms=now_millis(),
            total=page.data_count if with_total else None, done=not page.has_next,
        )  # fmt: skip
        self.commit_page(self.to_messages(unique, partition), dead, state)
        self._pages[partition.name] = self._pages.get(partition.name, 0) + 1
        self.report_page(
            report,
            PageProgress(
                self.stream,
                partition.name,
                self._pages[partition.name],
                len(page.rows),
                len(unique),
                len(dead),
                len(page.rows) - len(fresh) + len(valid) - len(unique),
                str(new_cursor),
                page.has_next,
            ),
        )
        if not page.has_next:
            return False
        if new_cursor <= cursor:
            raise CursorNotAdvancingError(
                f"{self.stream}[{partition.name}]: has_next but ts stayed at {cursor}"
            )
        return True


class SingleTsStreamConnector(TsCursorConnector):
    """A document stream with one cursor for the whole merchant (outbound, after-sale)."""

    backlog_urgency = Urgency.DOCUMENTS
    key_field: ClassVar[str]

    def partitions(self) -> list[Partition]:
        return [Partition("all")]

    def key_for(self, row: Any, partition: Partition) -> dict[str, Any]:
        return {self.key_field: getattr(row, self.key_field)}
