"""The one chDB session of this process, and the discipline for sharing it.

chDB locks its data path, so exactly one engine session serves every HTTP client. That
session is stateful (current database, SET settings), so each request runs under one lock:
first the engine is brought to the state the request expects (its database; the session's
SET settings plus the URL settings), then the statement runs, and the next request corrects
whatever differs. Results are fully materialised under the lock and sent after releasing it,
so a slow reader never holds up other clients.

Known limits of sharing one engine session: statements run one at a time (a long query
delays the others), and temporary tables are not per HTTP session (every client sees them);
use ordinary tables in a scratch database instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chdb import session as chdb_session

from warehouse.server.errors import NOT_IMPLEMENTED, ClickHouseError
from warehouse.server.sessions import SessionState
from warehouse.server.sqltext import (
    InsertHead,
    StatementKind,
    is_setting_name,
    output_format,
    produces_result,
    quote_identifier,
    quote_string,
    tokens,
)

DEFAULT_OUTPUT_FORMAT = "TabSeparated"
_INSERT_CHUNK_BYTES = 1 << 20

# Settings ClickHouse's defaults differ from clickhouse-local's (chDB's) defaults: a server
# must not accept `1 + 1` as a query, so implicit SELECT is off.
_SERVER_DEFAULTS = {"implicit_select": "0"}
# Settings that would wedge the shared session if applied to it (readonly cannot be undone)
# or make no sense for it; readonly is emulated by the HTTP layer instead.
_NEVER_APPLIED = frozenset({"readonly", "profile"})


@dataclass(frozen=True)
class ExecutionContext:
    """The engine state a request expects: database, URL settings, and its HTTP session."""

    database: str | None = None
    settings: Mapping[str, str] = field(default_factory=dict)
    session: SessionState | None = None


@dataclass(frozen=True)
class EngineResult:
    """A finished statement: the body to send and the facts for the response headers."""

    body: bytes
    output_format: str | None  # None when the statement produced no result set
    summary: dict[str, str]
    timezone: str


class EngineUnavailable(RuntimeError):
    """The chDB session could not be opened (most often: another process holds the path)."""


class ChdbEngine:
    """Owns the chDB session: opening, per-request state, execution, closing."""

    def __init__(self, data_path: str, default_database: str = "default") -> None:
        self._lock = threading.Lock()
        try:
            self._session: Any = chdb_session.Session(data_path)  # type: ignore[no-untyped-call]
        except Exception as error:
            raise EngineUnavailable(
                f"cannot open chDB data path {data_path} "
                f"(is another server process using it?): {error}"
            ) from error
        self._closed = False
        defaults = ", ".join(
            f"{key} = {quote_string(value)}" for key, value in _SERVER_DEFAULTS.items()
        )
        self._raw(f"SET {defaults}")
        self.version = self._scalar("SELECT version()")
        self.server_timezone = self._scalar("SELECT timezone()")
        self._baseline = self._changed_settings()
        self._applied: dict[str, str] = {}
        if default_database != "default":
            self._raw(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(default_database)}")
        self.default_database = default_database
        self._raw(f"USE {quote_identifier(default_database)}")
        self._current_database = default_database

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
        started = time.perf_counter_ns()
        fmt = output_format(sql) or default_format
        with self._lock:
            self._check_open()
            self._prepare(context, only_session=kind is StatementKind.SET)
            try:
                result = self._run(sql, fmt, query_parameters or {})
            except ClickHouseError:
                if kind is StatementKind.SET:  # a failed SET may have applied part of its list
                    self._resynchronise()
                raise
            if kind is StatementKind.SET:
                self._applied = self._changed_settings()
                if context.session is not None:
                    context.session.settings = dict(self._applied)
            elif kind is StatementKind.USE:
                self._current_database = self._scalar("SELECT currentDatabase()")
                if context.session is not None:
                    context.session.database = self._current_database
            timezone = self._applied.get("session_timezone") or self.server_timezone
        body = bytes(result.bytes())
        is_result = produces_result(sql) or bool(body)
        return EngineResult(
            body, fmt if is_result else None, _summary(result, body, started), timezone
        )

    def insert(
        self, head: InsertHead, data: Iterable[bytes], context: ExecutionContext
    ) -> EngineResult:
        """Stream an INSERT's rows (already decoded bytes) into the engine and commit."""
        started = time.perf_counter_ns()
        with self._lock:
            self._check_open()
            self._prepare(context)
            try:
                inserter = self._session.send_insert(head.head, head.input_format)
            except Exception as error:
                raise ClickHouseError.from_engine_text(str(error)) from None
            try:
                for chunk in data:
                    for offset in range(0, len(chunk), _INSERT_CHUNK_BYTES):
                        inserter.append(chunk[offset : offset + _INSERT_CHUNK_BYTES])
                outcome = inserter.finish()
            except ClickHouseError:
                _cancel_quietly(inserter)
                raise
            except Exception as error:
                _cancel_quietly(inserter)
                raise ClickHouseError.from_engine_text(str(error)) from None
            timezone = self._applied.get("session_timezone") or self.server_timezone
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
        """Close the chDB session so its data path is released (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._session.close()

    @property
    def closed(self) -> bool:
        """Whether close() has run."""
        return self._closed

    # -- state management -------------------------------------------------------------

    def _prepare(self, context: ExecutionContext, only_session: bool = False) -> None:
        """Bring the engine's database and settings to what this request expects.

        Effective settings are the session's SET settings overlaid by the URL settings; a SET
        statement starts from the session's alone so that what it leaves behind is exactly
        the session's new state.
        """
        settings = dict(context.session.settings) if context.session else {}
        if not only_session:
            settings.update(context.settings)
        database = context.database or (context.session.database if context.session else None)
        database = database or self.default_database
        if database != self._current_database:
            self._run(f"USE {quote_identifier(database)}", DEFAULT_OUTPUT_FORMAT, {})
            self._current_database = database
        wanted = {key: value for key, value in settings.items() if key not in _NEVER_APPLIED}
        changes: list[str] = []
        for key in self._applied.keys() - wanted.keys():
            changes.append(self._reset_clause(key))
        for key, value in wanted.items():
            if self._applied.get(key) != value:
                if not is_setting_name(key):
                    raise ClickHouseError(115, "UNKNOWN_SETTING", f"Unknown setting '{key}'")
                changes.append(f"{key} = {quote_string(value)}")
        if not changes:
            return
        try:
            self._run("SET " + ", ".join(changes), DEFAULT_OUTPUT_FORMAT, {})
        except ClickHouseError:
            self._resynchronise()
            raise
        self._applied = wanted

    def _reset_clause(self, key: str) -> str:
        if key in self._baseline:
            return f"{key} = {quote_string(self._baseline[key])}"
        return f"{key} = DEFAULT"

    def _resynchronise(self) -> None:
        """After a failed SET the applied state is unknown: read it back from the engine."""
        self._applied = self._changed_settings()

    def _changed_settings(self) -> dict[str, str]:
        """Settings that differ from the server baseline (all changed ones at startup)."""
        text = bytes(
            self._raw("SELECT name, value FROM system.settings WHERE changed", "TSVRaw").bytes()
        )
        changed = dict(line.split("\t", 1) for line in text.decode().splitlines() if "\t" in line)
        changed.pop("database", None)  # chDB mirrors the current database here; USE owns it
        baseline: Mapping[str, str] = getattr(self, "_baseline", {})
        return {key: value for key, value in changed.items() if baseline.get(key) != value}

    # -- chDB calls -------------------------------------------------------------------

    def _run(self, sql: str, fmt: str, parameters: Mapping[str, str]) -> Any:
        try:
            return self._session.query(sql, fmt, params=dict(parameters) or None)
        except Exception as error:  # chDB raises ChdbError/RuntimeError with ClickHouse's text
            raise ClickHouseError.from_engine_text(str(error)) from None

    def _raw(self, sql: str, fmt: str = DEFAULT_OUTPUT_FORMAT) -> Any:
        return self._run(sql, fmt, {})

    def _scalar(self, sql: str) -> str:
        return bytes(self._raw(sql, "TSVRaw").bytes()).decode().strip()

    def _check_open(self) -> None:
        if self._closed:
            raise ClickHouseError(210, "NETWORK_ERROR", "Server is shutting down")


def _refuse_unsupported_set(sql: str) -> None:
    """`SET readonly`/`SET profile` would change the shared engine for every client."""
    for token in tokens(sql):
        if token.is_word and token.text.lower() in _NEVER_APPLIED:
            raise ClickHouseError.of(
                NOT_IMPLEMENTED,
                f"SET {token.text.lower()} is not supported by this server; "
                "pass readonly as a URL parameter",
            )


def _cancel_quietly(inserter: Any) -> None:
    try:
        inserter.cancel()
    except Exception:  # the insert already failed; its own error is the one to report
        pass


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
