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

A page that still fails after the client's retries is *parked* (see
:mod:`connectors.retries`): recorded in the state with a dead letter, retried first on
the next sync; the cursor stays at the start of the unread data.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from common.settings import KafkaSettings
from connectors import metrics
from connectors.errors import RateLimitedError, RetriableApiError
from connectors.kafka_producer import RecordProducer, encode_json
from connectors.models import DeadLetterRecord, ErpRow, now_millis, validate_rows
from connectors.retries import clear_window, fetch_failure_letter, park_window
from connectors.state import CursorStore
from connectors.urgency import Urgency

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
    with_total: bool = False  # ask for data_count (the ts cursor does once, on a first load)


@dataclass(frozen=True)
class SourcePage:
    rows: list[Any]
    has_next: bool
    page_index: int = 1
    data_count: int | None = None


class Source(Protocol):
    """What a connector needs from an ERP gateway (the seam for a second source).

    ``name`` goes into dead letters; ``supports(stream)`` says whether the gateway has the
    stream; ``max_page_size`` caps ``PageQuery.page_size``; ``query`` answers one page with
    the rows as raw JSON objects (field names of the Jushuitan API, so one row model fits
    every source) and raises the exceptions of :mod:`connectors.errors` (retriable after
    its own retries, fatal, token). Implementations: ``connectors.jushuitan.source`` and
    the planned ``connectors.qimen`` (Taobao/Tmall money fields).
    """

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
    parked_windows: int = 0  # fetches that failed after retries, parked for later
    parked_letters: int = 0  # dead letters announcing newly parked windows
    rate_limited: bool = False  # a fetch ended on a quota refusal
    more: bool = False  # a poll stopped with a backlog left: poll again at once
    rows_seen: int = 0  # rows the source answered (produced, dead-lettered or duplicate)
    started: float = field(default_factory=time.monotonic)

    def add(self, progress: PageProgress) -> None:
        self.pages += 1
        self.records += progress.produced
        self.dead_letters += progress.dead_letters
        self.duplicates_dropped += progress.duplicates_dropped
        self.rows_seen += progress.rows

    def merge(self, other: SyncReport) -> None:
        """Fold one poll's report into a running total (``started`` stays)."""
        self.pages += other.pages
        self.records += other.records
        self.dead_letters += other.dead_letters
        self.duplicates_dropped += other.duplicates_dropped
        self.rows_seen += other.rows_seen
        self.parked_windows += other.parked_windows
        self.parked_letters += other.parked_letters
        self.rate_limited = self.rate_limited or other.rate_limited
        self.more = other.more

    @property
    def elapsed_seconds(self) -> float:
        return max(1e-9, time.monotonic() - self.started)

    @property
    def records_per_second(self) -> float:
        return self.records / self.elapsed_seconds

    def summary(self) -> str:
        return (
            f"{self.stream}: {self.records} records in {self.pages} pages, "
            f"{self.elapsed_seconds:.1f} s ({self.records_per_second:.1f} records/s, "
            f"{self.pages / self.elapsed_seconds * 60:.0f} pages/min), "
            f"{self.dead_letters} dead letters, {self.duplicates_dropped} duplicates dropped, "
            f"{self.parked_windows} windows parked"
        )


Message = tuple[bytes | None, bytes]


class StreamConnector(ABC):
    """One stream: read pages from a source, produce to ``<prefix>.ods.<stream>``."""

    stream: ClassVar[str]
    row_model: ClassVar[type[ErpRow]]
    # Which backlog pages go first on the shared quota (a caught-up poll is always FRESH).
    backlog_urgency: ClassVar[Urgency] = Urgency.DIMENSIONS

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
        self._unsaved_records = 0
        self._unsaved_modified: str | None = None
        self._pages: dict[str, int] = {}  # pages read per partition in this process

    @abstractmethod
    def sync_once(self) -> SyncReport:
        """Catch up with the source, committing page by page; returns what was done."""

    def poll_targets(self) -> list[str]:
        """The slices the scheduler paces independently (warehouses for inventory)."""
        return ["all"]

    def poll(self, target: str) -> SyncReport:
        """One poll of ``target``: here a whole catch-up; ts streams read one page and
        set ``more`` while their backlog lasts."""
        return self.sync_once()

    @abstractmethod
    def key_for(self, row: Any, partition: Partition) -> dict[str, Any]:
        """The Kafka key (as a JSON object) of a validated row."""

    def value_for(self, row: ErpRow, partition: Partition, ingested_at: int) -> dict[str, Any]:
        """Row as the API sent it (validated), plus partition context and ``_ingested_at``."""
        return {**row.model_dump(mode="json"), **partition.context, "_ingested_at": ingested_at}

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()

    def probe(self) -> None:
        """One cheap read (nothing produced): does the API answer again after throttling?"""
        self.source.query(self.stream, PageQuery(page_size=1))

    def to_messages(self, rows: list[Any], partition: Partition) -> list[Message]:
        ingested_at = now_millis()
        self._unsaved_records += len(rows)
        for row in rows:
            modified = getattr(row, "modified", None)
            if modified and (self._unsaved_modified is None or modified > self._unsaved_modified):
                self._unsaved_modified = modified
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
        metrics.note_produced(self.stream, records=len(messages), dead_letters=len(dead))

    def commit_page(
        self, messages: list[Message], dead: list[DeadLetterRecord], state: dict[str, Any] | None
    ) -> None:
        """produce -> flush (acks) -> save cursor (skipped when ``state`` is None)."""
        self.produce_and_flush(messages, dead)
        if state is not None:
            state["updated_at_ms"] = now_millis()
            self._fold_stats(state)
            self.store.save(self.stream, state)
            metrics.note_state(self.stream, state)  # cursor lag, parked windows

    def _fold_stats(self, state: dict[str, Any]) -> None:
        """Totals for ``sync --status``: records acknowledged, newest ``modified`` seen."""
        stats: dict[str, Any] = state.setdefault("stats", {})
        stats["records_produced"] = int(stats.get("records_produced", 0)) + self._unsaved_records
        if self._unsaved_modified and self._unsaved_modified > stats.get("last_modified", ""):
            stats["last_modified"] = self._unsaved_modified
        stats["last_success_ms"] = state["updated_at_ms"]
        self._unsaved_records = 0
        self._unsaved_modified = None

    def park(
        self,
        state: dict[str, Any],
        window_id: str,
        query: dict[str, Any],
        error: RetriableApiError,
        report: SyncReport,
    ) -> None:
        """Record a window that failed after retries, dead-letter it once, save state."""
        reason = f"{type(error).__name__}: {error}"
        new = park_window(state, window_id, query, reason)
        letters = [fetch_failure_letter(self.stream, self.source.name, window_id, query, reason)]
        self.commit_page([], letters if new else [], state)
        report.parked_windows += 1
        report.dead_letters += len(letters) if new else 0
        report.parked_letters += len(letters) if new else 0
        report.rate_limited = report.rate_limited or isinstance(error, RateLimitedError)
        log.warning("%s: window %s parked for retry (%s)", self.stream, window_id, reason)

    def unpark(self, state: dict[str, Any], window_id: str) -> None:
        if clear_window(state, window_id):
            self.commit_page([], [], state)
            log.info("%s: parked window %s read completely", self.stream, window_id)

    def report_page(self, report: SyncReport, progress: PageProgress) -> None:
        report.add(progress)
        log.info(
            "%s[%s] page %d: %d rows, %d produced, %d dead-lettered, %d duplicates, "
            "cursor=%s, has_next=%s (%.1f records/s)",
            progress.stream,
            progress.partition,
            progress.page,
            progress.rows,
            progress.produced,
            progress.dead_letters,
            progress.duplicates_dropped,
            progress.cursor,
            progress.has_next,
            report.records_per_second,
        )
        if self.on_page is not None:
            self.on_page(progress)
