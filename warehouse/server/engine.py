"""The chDB engine of this process, shared by every HTTP client through a connection pool.

chDB locks its data path, so this process hosts the only engine for it, but one engine
accepts any number of connections (`chdb.connect(path)`): statements of one connection run
one at a time, statements of different connections run in parallel. `chdb.session.Session`
is only a thin wrapper around one such connection, so the server opens `pool_size`
connections instead and lends each request one of them. Measured in chDB 4.4 (engine
26.9), per-connection state is isolated: `USE`, `SET` and temporary tables on one
connection are invisible to the others, while tables, data and DDL are shared at once.

A request's state (its database; its HTTP session's SET settings plus its URL settings)
therefore belongs on the connection it borrows: each connection remembers what it has
applied, and before a statement the borrowed one is corrected to what the request expects
(borrowing prefers a connection already in that state). A read's result is streamed
(`stream()`): the connection stays lent until its last chunk is sent, so memory stays
bounded; statements without a result set, and reads for the query cache, are
materialised (`execute()`).

Limits: at most `pool_size` statements run at once (more requests queue, first come first
served); a long statement occupies one connection (see DEFAULT_ENGINE_CONNECTIONS). Of
those, statements that were heavy last time run at most `heavy.slots` at once
(heavy_statements.py), so scans take turns while small queries start at once.

Temporary tables created by a client's statement are refused: one would live on whichever
connection ran the CREATE, so a later request of the same client could not see it; use
ordinary tables in a scratch database instead. External data (tables uploaded with one
query) works: they live on the lent connection for that statement only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import chdb

from warehouse.server.config import DEFAULT_ENGINE_CONNECTIONS
from warehouse.server.connection import ConnectionState, EngineConnection
from warehouse.server.errors import NOT_IMPLEMENTED, ClickHouseError
from warehouse.server.external_data import ExternalTable
from warehouse.server.heavy_statements import HeavyStatements
from warehouse.server.native_revision import WITH_TIME_ZONE_IN_DATETIME, rewrite_native
from warehouse.server.pool import ConnectionPool, InFlightGauge, InFlightReading
from warehouse.server.sessions import SessionState
from warehouse.server.sqltext import (
    InsertHead,
    StatementKind,
    is_select,
    is_setting_name,
    output_format,
    produces_result,
    quote_identifier,
    tokens,
    without_output_format,
)

DEFAULT_OUTPUT_FORMAT = "TabSeparated"
_TYPES_CACHE_SECONDS = 10.0
_TYPES_CACHE_ENTRIES = 1024

# Settings that would wedge a pooled connection if applied to it (readonly cannot be
# undone) or make no sense for it; readonly is emulated by the HTTP layer instead.
_NEVER_APPLIED = frozenset({"readonly", "profile"})


@dataclass(frozen=True)
class ExecutionContext:
    """The engine state a request expects: database, URL settings, and its HTTP session."""

    database: str | None = None
    settings: Mapping[str, str] = field(default_factory=dict)
    session: SessionState | None = None
    external: tuple[ExternalTable, ...] = ()  # uploaded with the query (external_data.py)
    native_revision: int = 0  # the client's client_protocol_version (native_revision.py)


@dataclass(frozen=True)
class EngineResult:
    """A finished statement: the body to send and the facts for the response headers."""

    body: bytes
    output_format: str | None  # None when the statement produced no result set
    summary: dict[str, str]
    timezone: str
    from_cache: bool = False  # answered by the query cache, not the engine


class StatementStream:
    """A read whose result is sent while the engine produces it, block by block.

    `chunks()` raises ClickHouseError if the engine fails part-way; `summary()` counts what
    has gone through so far. Valid only inside `ChdbEngine.stream()`.
    """

    def __init__(self, raw_chunks: Iterator[Any], output_format: str, timezone: str) -> None:
        self.output_format = output_format
        self.timezone = timezone
        self._raw = raw_chunks
        self._started = time.perf_counter_ns()
        self._rows = 0
        self._bytes = 0
        self._read_rows = 0
        self._read_bytes = 0
        # Applied to each chunk (one Native block) on its way out: native_revision.py.
        self.rewrite: Callable[[bytes], bytes] | None = None

    def chunks(self) -> Iterator[bytes]:
        """The result's bytes as the engine hands them over (empty chunks left out)."""
        for raw in self._raw:
            chunk = bytes(raw.bytes())
            self._rows += raw.rows_read()
            self._read_rows += raw.storage_rows_read()
            self._read_bytes += raw.storage_bytes_read()
            if chunk and self.rewrite is not None:
                chunk = self.rewrite(chunk)
            self._bytes += len(chunk)
            if chunk:
                yield chunk

    @property
    def read_rows(self) -> int:
        """Rows the engine has read from storage so far."""
        return self._read_rows

    def elapsed_seconds(self) -> float:
        """How long the statement has run."""
        return (time.perf_counter_ns() - self._started) / 1e9

    def summary(self) -> dict[str, str]:
        """X-ClickHouse-Summary for what has been produced so far."""
        return _summary_counts(
            read_rows=self._read_rows,
            read_bytes=self._read_bytes,
            written_rows=0,
            written_bytes=0,
            result_rows=self._rows,
            result_bytes=self._bytes,
            started=self._started,
        )


class EngineUnavailable(RuntimeError):
    """The chDB engine could not be opened (most often: another process holds the path)."""


class ChdbEngine:
    """Owns the engine's connection pool: opening, per-request state, execution, closing."""

    def __init__(
        self,
        data_path: str,
        default_database: str = "default",
        pool_size: int = DEFAULT_ENGINE_CONNECTIONS,
        heavy: HeavyStatements | None = None,
    ) -> None:
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, not {pool_size}")
        self._gauge = InFlightGauge()
        raw_connections = _open_connections(data_path, pool_size)
        try:
            first = EngineConnection(raw_connections[0], self._gauge)
            self.version = first.scalar("SELECT version()")
            self.server_timezone = first.scalar("SELECT timezone()")
            if default_database != "default":
                first.run_plain(
                    f"CREATE DATABASE IF NOT EXISTS {quote_identifier(default_database)}"
                )
            connections = [first] + [
                EngineConnection(raw, self._gauge) for raw in raw_connections[1:]
            ]
            for connection in connections:
                connection.use(default_database)
        except BaseException:
            for raw in raw_connections:
                _close_quietly(raw)
            raise
        self.default_database = default_database
        self._types_cache: dict[tuple[object, ...], tuple[float, list[str]]] = {}
        self._pool = ConnectionPool(connections)
        self.heavy = heavy if heavy is not None else HeavyStatements()

    # -- public API -------------------------------------------------------------------

    def execute(
        self,
        sql: str,
        kind: StatementKind,
        context: ExecutionContext,
        default_format: str = DEFAULT_OUTPUT_FORMAT,
        query_parameters: Mapping[str, str] | None = None,
    ) -> EngineResult:
        """Run one complete statement in the request's database and settings."""
        if kind is StatementKind.SET:
            _refuse_unsupported_set(sql)
        if kind is StatementKind.WRITE:
            _refuse_temporary_table(sql)
        started = time.perf_counter_ns()
        fmt = output_format(sql) or default_format
        if fmt == "Native" and context.native_revision > 0 and is_select(sql):
            # Block by block, so each block gets its own block info even past a column
            # type native_revision.py cannot size.
            with self.stream(sql, context, default_format, query_parameters) as stream:
                body = b"".join(stream.chunks())
                return EngineResult(body, fmt, stream.summary(), stream.timezone)
        state = self._requested_state(context, only_session=kind is StatementKind.SET)
        with self.heavy.turn((state.database, sql)) as cost, self._lend(state) as connection:
            try:
                with connection.external_tables(context.external):
                    result = connection.run(sql, fmt, query_parameters or {})
            except ClickHouseError:
                if kind is StatementKind.SET:  # a failed SET may have applied part of its list
                    connection.resynchronise()
                raise
            if kind is StatementKind.SET:
                applied = connection.resynchronise()
                if context.session is not None:
                    context.session.settings = applied
            elif kind is StatementKind.USE:
                database = connection.refresh_database()
                if context.session is not None:
                    context.session.database = database
            timezone = connection.timezone(self.server_timezone)
            body = bytes(result.bytes())
            summary = _summary(result, body, started)
            cost.read_rows = result.storage_rows_read()
            cost.seconds = (time.perf_counter_ns() - started) / 1e9
            if fmt == "Native" and context.native_revision > 0:  # SHOW, DESCRIBE...
                body = rewrite_native(body, context.native_revision, true_types=None)
        is_result = produces_result(sql) or bool(body)
        return EngineResult(body, fmt if is_result else None, summary, timezone)

    @contextmanager
    def stream(
        self,
        sql: str,
        context: ExecutionContext,
        default_format: str = DEFAULT_OUTPUT_FORMAT,
        query_parameters: Mapping[str, str] | None = None,
    ) -> Iterator[StatementStream]:
        """Run a read and hand its result over block by block; the connection stays lent.

        Leaving the block before the last chunk cancels the statement.
        """
        fmt = output_format(sql) or default_format
        state = self._requested_state(context, only_session=False)
        with (
            self.heavy.turn((state.database, sql)) as cost,
            self._lend(state) as connection,
            connection.external_tables(context.external),
        ):
            true_types = self._true_types(connection, sql, fmt, context, query_parameters)
            with connection.stream(sql, fmt, query_parameters or {}) as raw_chunks:
                stream = StatementStream(raw_chunks, fmt, connection.timezone(self.server_timezone))
                if fmt == "Native" and context.native_revision > 0:
                    stream.rewrite = partial(
                        rewrite_native, revision=context.native_revision, true_types=true_types
                    )
                yield stream
                cost.read_rows, cost.seconds = stream.read_rows, stream.elapsed_seconds()

    def insert(
        self, head: InsertHead, data: Iterable[bytes], context: ExecutionContext
    ) -> EngineResult:
        """Stream an INSERT's rows (already decoded bytes) into the engine and commit."""
        started = time.perf_counter_ns()
        state = self._requested_state(context, only_session=False)
        with self._lend(state) as connection:
            outcome = connection.insert(head.head, head.input_format, data)
            timezone = connection.timezone(self.server_timezone)
        summary = _summary_counts(
            read_rows=0,
            read_bytes=0,
            written_rows=outcome.rows_written,
            written_bytes=outcome.bytes_written,
            result_rows=0,
            result_bytes=0,
            started=started,
        )
        return EngineResult(b"", None, summary, timezone)

    def close(self) -> None:
        """Wait for running statements, then close every connection (idempotent).

        The engine releases its data path when the last connection closes.
        """
        self._pool.close(EngineConnection.close)

    @property
    def closed(self) -> bool:
        """Whether close() has run."""
        return self._pool.closed

    @property
    def pool_size(self) -> int:
        """How many statements can run at once."""
        return self._pool.size

    def in_flight(self) -> InFlightReading:
        """Statements inside chDB now and the most at once (overlap, without wall clocks)."""
        return self._gauge.reading()

    def reset_peak_in_flight(self) -> None:
        """Start a new high-water mark for `in_flight().peak_in_flight`."""
        self._gauge.reset_peak()

    def _true_types(
        self,
        connection: EngineConnection,
        sql: str,
        fmt: str,
        context: ExecutionContext,
        query_parameters: Mapping[str, str] | None,
    ) -> list[str] | None:
        """The result's column types with their zones, when a Native client needs them.

        Only a SELECT for a client of revision >= 54337 asks; the answer is kept for a few
        seconds, since dashboards send the same statements over and over.
        """
        if (
            fmt != "Native"
            or context.native_revision < WITH_TIME_ZONE_IN_DATETIME
            or not is_select(sql)
        ):
            return None
        key = (connection.current_database, sql, tuple(sorted((query_parameters or {}).items())))
        # Uploaded tables may change from one request to the next: never from the cache.
        cached = None if context.external else self._types_cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            text = connection.run(
                f"DESCRIBE TABLE ({without_output_format(sql)})",
                "TSVRaw",
                query_parameters or {},
            ).bytes()
        except ClickHouseError:
            return None  # the statement's own run reports what is wrong with it
        types = [
            line.split("\t")[1]
            for line in bytes(text).decode("utf-8", "replace").split("\n")
            if "\t" in line
        ]
        if len(self._types_cache) >= _TYPES_CACHE_ENTRIES:
            self._types_cache.clear()
        self._types_cache[key] = (time.monotonic() + _TYPES_CACHE_SECONDS, types)
        return types

    # -- request state ----------------------------------------------------------------

    def effective_state(self, context: ExecutionContext) -> ConnectionState:
        """The database and settings a read in `context` runs with (the query cache's key)."""
        return self._requested_state(context, only_session=False)

    @contextmanager
    def _lend(self, state: ConnectionState) -> Iterator[EngineConnection]:
        """Lend a connection brought to `state`, preferring one already in it."""
        with self._pool.borrow(prefer=lambda connection: connection.is_in(state)) as connection:
            connection.prepare(state)
            yield connection

    def _requested_state(self, context: ExecutionContext, only_session: bool) -> ConnectionState:
        """The database and settings this request's statement must run with.

        Effective settings are the session's SET settings overlaid by the URL settings; a SET
        statement starts from the session's alone so that what it leaves behind is exactly
        the session's new state.
        """
        settings = dict(context.session.settings) if context.session else {}
        if not only_session:
            settings.update(context.settings)
        database = context.database or (context.session.database if context.session else None)
        wanted = {key: value for key, value in settings.items() if key not in _NEVER_APPLIED}
        for key in wanted:
            if not is_setting_name(key):
                raise ClickHouseError(115, "UNKNOWN_SETTING", f"Unknown setting '{key}'")
        return ConnectionState(database or self.default_database, wanted)


def _open_connections(data_path: str, count: int) -> list[Any]:
    connections: list[Any] = []
    try:
        for _ in range(count):
            connections.append(chdb.connect(data_path))
    except Exception as error:
        for connection in connections:
            _close_quietly(connection)
        raise EngineUnavailable(
            f"cannot open chDB data path {data_path} (is another server process using it?): {error}"
        ) from error
    return connections


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # already failing; the first error is the one to report
        pass


def _refuse_unsupported_set(sql: str) -> None:
    """`SET readonly`/`SET profile` would change a pooled connection for every later client."""
    for token in tokens(sql):
        if token.is_word and token.text.lower() in _NEVER_APPLIED:
            raise ClickHouseError.of(
                NOT_IMPLEMENTED,
                f"SET {token.text.lower()} is not supported by this server; "
                "pass readonly as a URL parameter",
            )


def _refuse_temporary_table(sql: str) -> None:
    """A temporary table would exist on one pooled connection only (see the module doc)."""
    words = [token.text.upper() for token in tokens(sql) if token.is_word][:4]
    if words[:1] == ["CREATE"] and "TEMPORARY" in words:
        raise ClickHouseError.of(
            NOT_IMPLEMENTED,
            "Temporary tables are not supported by this server; "
            "use an ordinary table in a scratch database",
        )


def _summary(result: Any, body: bytes, started: int) -> dict[str, str]:
    return _summary_counts(
        read_rows=result.storage_rows_read(),
        read_bytes=result.storage_bytes_read(),
        written_rows=result.rows_written(),
        written_bytes=result.bytes_written(),
        result_rows=result.rows_read(),
        result_bytes=len(body),
        started=started,
    )


def _summary_counts(
    *,
    read_rows: int,
    read_bytes: int,
    written_rows: int,
    written_bytes: int,
    result_rows: int,
    result_bytes: int,
    started: int,
) -> dict[str, str]:
    """X-ClickHouse-Summary content; ClickHouse sends every number as a string."""
    return {
        "read_rows": str(read_rows),
        "read_bytes": str(read_bytes),
        "written_rows": str(written_rows),
        "written_bytes": str(written_bytes),
        "total_rows_to_read": "0",
        "result_rows": str(result_rows),
        "result_bytes": str(result_bytes),
        "elapsed_ns": str(time.perf_counter_ns() - started),
    }
