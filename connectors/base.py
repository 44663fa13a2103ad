"""Source adapter interface and the base StreamConnector with the ts-cursor loop.

A *source* (the Jushuitan open API today, the Qimen gateway later) answers one page of
one stream for a :class:`PageQuery`. A *connector* owns a stream: it asks the source for
pages, validates rows, produces them to Kafka and saves its cursor.

Commit order, per page (never reorder it):

    1. fetch page         source.query(...)
    2. produce            producer.send(...) for rows (ODS topic) and dead letters (DLQ topic)
    3. flush (acks)       producer.flush() -- returns only when every record is acknowledged
    4. save cursor        CursorStore.save(...) -- atomic file replace

A crash between 3 and 4 re-sends one page (at-least-once; downstream dedupes by key and
version). A cursor never covers a record Kafka has not acknowledged.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from common.settings import KafkaSettings
from connectors.errors import CursorNotAdvancingError
from connectors.kafka_producer import RecordProducer, encode_json
from connectors.models import DeadLetterRecord, ErpRow, now_millis, validate_rows
from connectors.state import CursorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageQuery:
    """One page request, independent of the source's parameter names."""

    page_size: int
    page_index: int = 1
    start_ts: int | None = None
    modified_begin: datetime | None = None
    modified_end: datetime | None = None
    filters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourcePage:
    rows: list[Any]
    has_next: bool
    page_index: int = 1
    data_count: int | None = None


class Source(Protocol):
    """What a connector needs from an ERP gateway."""

    name: str

    def supports(self, stream: str) -> bool: ...

    def max_page_size(self, stream: str) -> int: ...

    def query(self, stream: str, query: PageQuery) -> SourcePage: ...


@dataclass(frozen=True)
class Partition:
    """An independently cursored slice of a stream (e.g. one warehouse)."""

    name: str
    filters: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PageProgress:
    stream: str
    partition: str
    page: int
    rows: int
    produced: int
    dead_letters: int
    duplicates_dropped: int
    cursor: str
    has_next: bool


@dataclass
class SyncReport:
    stream: str
    pages: int = 0
    records: int = 0
    dead_letters: int = 0
    duplicates_dropped: int = 0

    def add(self, progress: PageProgress) -> None:
        self.pages += 1
        self.records += progress.produced
        self.dead_letters += progress.dead_letters
        self.duplicates_dropped += progress.duplicates_dropped


Message = tuple[bytes | None, bytes]


class StreamConnector(ABC):
    """One stream: read pages from a source, produce to ``<prefix>.ods.<stream>``."""

    stream: ClassVar[str]
    row_model: ClassVar[type[ErpRow]]

    def __init__(
        self,
        source: Source,
        producer: RecordProducer,
        store: CursorStore,
        kafka: KafkaSettings,
        *,
        page_size: int = 50,
        on_page: Callable[[PageProgress], None] | None = None,
        stop_event: threading.Event | None = None,
    ):
        self.source = source
        self.producer = producer
        self.store = store
        self.topic = kafka.topic("ods", self.stream)
        self.dead_letter_topic = kafka.topic("dlq", self.stream)
        self.page_size = max(1, min(page_size, source.max_page_size(self.stream)))
        self.on_page = on_page
        self.stop_event = stop_event if stop_event is not None else threading.Event()

    @abstractmethod
    def sync_once(self) -> SyncReport:
        """Catch up with the source, committing page by page; returns what was done."""

    @abstractmethod
    def key_for(self, row: Any, partition: Partition) -> dict[str, Any]:
        """The Kafka key (as a JSON object) of a validated row."""

    def value_for(self, row: ErpRow, partition: Partition, ingested_at: int) -> dict[str, Any]:
        """Row as the API sent it (validated), plus partition context and ``_ingested_at``."""
        return {**row.model_dump(mode="json"), **partition.context, "_ingested_at": ingested_at}

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()

    def to_messages(self, rows: list[Any], partition: Partition) -> list[Message]:
        ingested_at = now_millis()
        return [
            (
                encode_json(self.key_for(row, partition)),
                encode_json(self.value_for(row, partition, ingested_at)),
            )
            for row in rows
        ]

    def validate(
        self, raw_rows: list[Any], partition: Partition
    ) -> tuple[list[Any], list[DeadLetterRecord]]:
        return validate_rows(
            self.row_model,
            raw_rows,
            stream=self.stream,
            source=self.source.name,
            context=dict(partition.context),
        )

    def produce_and_flush(self, messages: list[Message], dead: list[DeadLetterRecord]) -> None:
        """Steps 2 and 3 of the commit order: send everything, then wait for acks."""
        for key, value in messages:
            self.producer.send(self.topic, key, value)
        for record in dead:
            self.producer.send(
                self.dead_letter_topic, None, encode_json(record.model_dump(mode="json"))
            )
        self.producer.flush()

    def commit_page(
        self, messages: list[Message], dead: list[DeadLetterRecord], state: dict[str, Any] | None
    ) -> None:
        """produce -> flush (acks) -> save cursor (skipped when ``state`` is None)."""
        self.produce_and_flush(messages, dead)
        if state is not None:
            state["updated_at_ms"] = now_millis()
            self.store.save(self.stream, state)

    def report_page(self, report: SyncReport, progress: PageProgress) -> None:
        report.add(progress)
        log.info(
            "%s[%s] page %d: %d rows, %d produced, %d dead-lettered, %d duplicates, "
            "cursor=%s, has_next=%s",
            progress.stream,
            progress.partition,
            progress.page,
            progress.rows,
            progress.produced,
            progress.dead_letters,
            progress.duplicates_dropped,
            progress.cursor,
            progress.has_next,
        )
        if self.on_page is not None:
            self.on_page(progress)


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
    """The documented ``ts`` loop: page_index=1, start_ts = largest ts seen, per partition.

    Assumes, as the API docs imply, that a ts query answers rows in ascending ``ts``.
    Stops when a page brings nothing newer than the cursor or says ``has_next=false``;
    raises :class:`CursorNotAdvancingError` if ``has_next`` is true but the cursor did not
    move. Rows at or below the cursor are dropped (sources that compare with ``>=``), and
    a key seen twice in one page keeps its highest ``ts``.
    """

    initial_ts: ClassVar[int] = 0

    @abstractmethod
    def partitions(self) -> list[Partition]:
        """The slices to cursor independently (e.g. warehouses)."""

    def sync_once(self) -> SyncReport:
        report = SyncReport(self.stream)
        state = self.store.load(self.stream)
        cursors: dict[str, str] = state.setdefault("cursors", {})
        for partition in self.partitions():
            if self.stopped:
                break
            self._sync_partition(partition, cursors, state, report)
        return report

    def _dedupe(self, rows: list[Any], partition: Partition) -> list[Any]:
        best: dict[bytes, Any] = {}
        for row in rows:
            key = encode_json(self.key_for(row, partition))
            if key not in best or row.ts > best[key].ts:
                best[key] = row
        return list(best.values())

    def _sync_partition(
        self,
        partition: Partition,
        cursors: dict[str, str],
        state: dict[str, Any],
        report: SyncReport,
    ) -> None:
        cursor = int(cursors.get(partition.name, self.initial_ts))
        page_number = 0
        while not self.stopped:
            page = self.source.query(
                self.stream,
                PageQuery(
                    page_size=self.page_size,
                    page_index=1,
                    start_ts=cursor,
                    filters=partition.filters,
                ),
            )
            fresh = [row for row in page.rows if _is_newer(row, cursor)]
            if not fresh:
                break
            valid, dead = self.validate(fresh, partition)
            unique = self._dedupe(valid, partition)
            # Dead-lettered rows with a readable ts move the cursor too: else they repeat forever.
            readable = [ts for ts in map(_raw_ts, fresh) if ts is not None]
            new_cursor = max([cursor, *readable])
            cursors[partition.name] = str(new_cursor)
            self.commit_page(self.to_messages(unique, partition), dead, state)
            page_number += 1
            self.report_page(
                report,
                PageProgress(
                    self.stream,
                    partition.name,
                    page_number,
                    len(page.rows),
                    len(unique),
                    len(dead),
                    len(page.rows) - len(fresh) + len(valid) - len(unique),
                    str(new_cursor),
                    page.has_next,
                ),
            )
            if not page.has_next:
                break
            if new_cursor <= cursor:
                raise CursorNotAdvancingError(
                    f"{self.stream}[{partition.name}]: has_next but ts stayed at {cursor}"
                )
            cursor = new_cursor
