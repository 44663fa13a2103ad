"""The server's `system.query_log` and `system.session_log`: what ran, for whom, and how.

chDB keeps no query log by default, and its own could not serve monitoring: the engine
knows neither the HTTP user nor the client's query_id, and never sees what this server
answers itself (the query cache, refusals, failed logins). So the dispatcher records every
request here, and the log is written where ClickHouse's is read:

- Entries are buffered and written in batches every second (ClickHouse: every 7.5 s) to
  MergeTree tables of the `_server_log` database, kept 7 days (ClickHouse's system log
  TTL is configurable; 7 days covers a week-over-week question). `system.query_log` and
  `system.session_log` are views over them, made at each start, since chDB's `system`
  database lives in memory. `SYSTEM FLUSH LOGS` writes what is buffered at once.
- The columns are a subset of ClickHouse's, with its names and types, so the queries
  people already have (slowest queries, errors by code, rows per user) run unchanged.
- A statement is logged once, when it ends: `QueryFinish`, `ExceptionBeforeStart` (refused
  or failed before producing rows) or `ExceptionWhileProcessing` (failed while its result
  was streamed); ClickHouse also writes a `QueryStart` row, this log does not.
- The session log has a `LoginSuccess` row when an HTTP session (`session_id`) is opened,
  `Logout` when it is closed or expires, and `LoginFailure` for every refused login
  (with the name tried, never the password). ClickHouse logs a login per request; this
  would double the log's rows for nothing a dashboard or alert reads.
- Shop owners cannot read either log (shop_owner_reads.py: not one of their system tables).

If the engine cannot take a batch, it is kept for the next flush; beyond MAX_BUFFERED
entries the oldest are dropped and counted (`dropped`), so a broken disk cannot grow the
server's memory without bound.
"""

from __future__ import annotations

import enum
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field

from warehouse.server.errors import ClickHouseError

log = logging.getLogger("warehouse.server.query_log")

LOG_DATABASE = "_server_log"
FLUSH_INTERVAL_SECONDS = 1.0
MAX_BUFFERED = 100_000
KEPT_DAYS = 7
QUERY_TEXT_LIMIT = 100_000  # ClickHouse's log_queries_cut_to_length


class QueryEnd(enum.Enum):
    """How a statement ended (ClickHouse's query_log `type`)."""

    FINISH = "QueryFinish"
    EXCEPTION_BEFORE_START = "ExceptionBeforeStart"
    EXCEPTION_WHILE_PROCESSING = "ExceptionWhileProcessing"


class SessionEvent(enum.Enum):
    """ClickHouse's session_log `type`."""

    LOGIN_FAILURE = "LoginFailure"
    LOGIN_SUCCESS = "LoginSuccess"
    LOGOUT = "Logout"


@dataclass(frozen=True)
class QueryLogEntry:
    """One row of system.query_log."""

    type: str
    event_time_microseconds: float  # Unix time; event_date and event_time derive from it
    query_start_time_microseconds: float
    query_duration_ms: int
    query_id: str
    user: str
    query_kind: str  # Select, Insert, Create, ... ('' when refused before it was read)
    query: str
    current_database: str
    read_rows: int = 0
    read_bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    result_rows: int = 0
    result_bytes: int = 0
    query_cache_usage: str = "None"  # None, Write... here: None or Read
    exception_code: int = 0
    exception: str = ""
    http_user_agent: str = ""


@dataclass(frozen=True)
class SessionLogEntry:
    """One row of system.session_log."""

    type: str
    event_time_microseconds: float
    session_id: str
    user: str
    failure_reason: str = ""
    interface: str = "HTTP"
    client_address: str = ""


_QUERY_COLUMNS = """
    type Enum8('QueryStart' = 1, 'QueryFinish' = 2, 'ExceptionBeforeStart' = 3,
               'ExceptionWhileProcessing' = 4),
    event_date Date DEFAULT toDate(event_time),
    event_time DateTime DEFAULT toDateTime(event_time_microseconds),
    event_time_microseconds DateTime64(6),
    query_start_time DateTime DEFAULT toDateTime(query_start_time_microseconds),
    query_start_time_microseconds DateTime64(6),
    query_duration_ms UInt64,
    read_rows UInt64, read_bytes UInt64, written_rows UInt64, written_bytes UInt64,
    result_rows UInt64, result_bytes UInt64,
    current_database LowCardinality(String),
    query String,
    query_kind LowCardinality(String),
    is_initial_query UInt8 DEFAULT 1,
    user LowCardinality(String),
    query_id String,
    initial_user LowCardinality(String) DEFAULT user,
    initial_query_id String DEFAULT query_id,
    interface UInt8 DEFAULT 2,
    http_user_agent String,
    exception_code Int32,
    exception String,
    query_cache_usage Enum8('Unknown' = 0, 'None' = 1, 'Write' = 2, 'Read' = 3)
"""
_SESSION_COLUMNS = """
    type Enum8('LoginFailure' = 0, 'LoginSuccess' = 1, 'Logout' = 2),
    session_id String,
    event_date Date DEFAULT toDate(event_time),
    event_time DateTime DEFAULT toDateTime(event_time_microseconds),
    event_time_microseconds DateTime64(6),
    user LowCardinality(String),
    interface Enum8('TCP' = 1, 'HTTP' = 2, 'gRPC' = 3, 'MySQL' = 4, 'PostgreSQL' = 5),
    client_address String,
    failure_reason String
"""
TABLES = {"query_log": _QUERY_COLUMNS, "session_log": _SESSION_COLUMNS}


def setup_statements() -> list[str]:
    """DDL for the log tables (kept) and the system views over them (made at each start)."""
    statements = [f"CREATE DATABASE IF NOT EXISTS {LOG_DATABASE}"]
    for name, columns in TABLES.items():
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {LOG_DATABASE}.{name} ({columns}) "
            "ENGINE = MergeTree PARTITION BY toYYYYMM(event_date) "
            "ORDER BY (event_date, event_time) "
            f"TTL event_date + INTERVAL {KEPT_DAYS} DAY"
        )
        statements.append(
            f"CREATE OR REPLACE VIEW system.{name} AS SELECT * FROM {LOG_DATABASE}.{name}"
        )
    return statements


_KIND_OF_KEYWORD = {"WITH": "Select", "DESC": "Describe", "": ""}


@dataclass
class RequestRecord:
    """What the dispatcher learns about one request as it runs; ends as one query_log row."""

    query_id: str
    user_agent: str = ""
    user: str = ""
    query: str = ""
    first_keyword: str = ""  # SELECT, INSERT, ... (sqltext.first_keyword)
    database: str = ""
    started: float = field(default_factory=lambda: now())
    started_clock: float = field(default_factory=time.perf_counter)  # for durations
    metric_kind: str = "other"  # select, insert, ddl or other (metrics.statement_kind)
    streamed_error: ClickHouseError | None = None
    stream_finished: bool = False

    def entry(
        self,
        end: QueryEnd,
        summary: Mapping[str, str] | None = None,
        from_cache: bool = False,
        error: ClickHouseError | None = None,
    ) -> QueryLogEntry:
        """The query_log row for this request, ended now."""
        ended = now()
        counts = {name: int((summary or {}).get(name, "0")) for name in _COUNTED}
        keyword = self.first_keyword
        return QueryLogEntry(
            type=end.value,
            event_time_microseconds=ended,
            query_start_time_microseconds=self.started,
            query_duration_ms=int((ended - self.started) * 1000),
            query_id=self.query_id,
            user=self.user,
            query_kind=_KIND_OF_KEYWORD.get(keyword, keyword.title()),
            query=self.query,
            current_database=self.database,
            query_cache_usage="Read" if from_cache else "None",
            exception_code=error.code if error is not None else 0,
            exception=f"Code: {error.code}. DB::Exception: {error.message}. ({error.name})"
            if error is not None else "",
            http_user_agent=self.user_agent,
            **counts,
        )  # fmt: skip


_COUNTED = ("read_rows", "read_bytes", "written_rows", "written_bytes", "result_rows",
            "result_bytes")  # fmt: skip

Writer = Callable[[str, bytes], None]  # (table, JSONEachRow rows) -> written, or raises


class ServerLog:
    """Buffers query and session log rows and writes them in batches (see the module doc)."""

    def __init__(self, writer: Writer, interval_seconds: float = FLUSH_INTERVAL_SECONDS) -> None:
        self._write = writer
        self._interval = interval_seconds
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one flush at a time keeps rows in order
        self._pending: dict[str, deque[dict[str, object]]] = {
            name: deque(maxlen=MAX_BUFFERED) for name in TABLES
        }
        self.dropped = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def query(self, entry: QueryLogEntry) -> None:
        """Buffer one query_log row."""
        row = asdict(entry)
        row["query"] = entry.query[:QUERY_TEXT_LIMIT]
        self._buffer("query_log", row)

    def session(self, entry: SessionLogEntry) -> None:
        """Buffer one session_log row."""
        self._buffer("session_log", asdict(entry))

    def flush(self) -> None:
        """Write everything buffered now (SYSTEM FLUSH LOGS); a failed batch is kept."""
        with self._flush_lock:
            for table, pending in self._pending.items():
                with self._lock:
                    rows = list(pending)
                    pending.clear()
                if not rows:
                    continue
                try:
                    self._write(f"{LOG_DATABASE}.{table}", _json_rows(rows))
                except ClickHouseError as error:
                    log.warning("could not write %d %s rows, kept for the next flush: %s",
                                len(rows), table, error.message)  # fmt: skip
                    with self._lock:
                        room = MAX_BUFFERED - len(pending)
                        kept = rows[-room:] if room > 0 else []
                        self.dropped += len(rows) - len(kept)
                        pending.extendleft(reversed(kept))

    def start(self) -> None:
        """Flush every interval on a background thread until stop()."""
        self._thread = threading.Thread(target=self._run, name="server-log-flush", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread and write what is left (before the engine closes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def _buffer(self, table: str, row: dict[str, object]) -> None:
        with self._lock:
            pending = self._pending[table]
            if len(pending) == MAX_BUFFERED:
                self.dropped += 1
            pending.append(row)


def _json_rows(rows: Iterable[dict[str, object]]) -> bytes:
    lines = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in rows)
    return b"".join(line.encode("utf-8", "surrogateescape") + b"\n" for line in lines)


def now() -> float:
    """Unix time for the log's *_microseconds columns."""
    return time.time()
