"""One chDB connection and the request state (database, settings) it has applied.

A chDB connection is stateful like a ClickHouse session: `USE` and `SET` stay in force on
it (and only on it; other connections to the same data path are unaffected). Requests do
not own connections, so before each statement the connection is brought to the state the
request expects and it remembers what it applied, so the next borrower only corrects the
difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from warehouse.server.errors import ClickHouseError
from warehouse.server.external_data import ExternalTable
from warehouse.server.pool import InFlightGauge
from warehouse.server.sqltext import quote_identifier, quote_string

PLAIN_FORMAT = "TabSeparated"
_INSERT_CHUNK_BYTES = 1 << 20

# Settings ClickHouse's defaults differ from clickhouse-local's (chDB's) defaults: a server
# must not accept `1 + 1` as a query, so implicit SELECT is off.
_SERVER_DEFAULTS = {"implicit_select": "0"}


@dataclass(frozen=True)
class ConnectionState:
    """The database and the settings (beyond the server defaults) a statement must run with."""

    database: str
    settings: Mapping[str, str]


class EngineConnection:
    """A chDB connection plus what it has applied; used by one request at a time."""

    def __init__(self, chdb_connection: Any, gauge: InFlightGauge) -> None:
        self._connection = chdb_connection
        self._gauge = gauge
        defaults = ", ".join(
            f"{key} = {quote_string(value)}" for key, value in _SERVER_DEFAULTS.items()
        )
        self.run_plain(f"SET {defaults}")
        self._baseline: dict[str, str] = {}  # empty while reading it: everything changed counts
        self._baseline = self.changed_settings()
        self.applied: dict[str, str] = {}
        self.current_database = self.scalar("SELECT currentDatabase()")

    # -- state ------------------------------------------------------------------------

    def is_in(self, state: ConnectionState) -> bool:
        """Whether the connection already is in `state` (so preparing it costs nothing)."""
        return self.current_database == state.database and self.applied == dict(state.settings)

    def prepare(self, state: ConnectionState) -> None:
        """Bring the connection's database and settings to `state`, changing only what differs."""
        self.use(state.database)
        wanted = dict(state.settings)
        changes = [self._reset_clause(key) for key in self.applied.keys() - wanted.keys()]
        changes += [
            f"{key} = {quote_string(value)}"
            for key, value in wanted.items()
            if self.applied.get(key) != value
        ]
        if not changes:
            return
        try:
            self.run_plain("SET " + ", ".join(changes))
        except ClickHouseError:
            self.resynchronise()
            raise
        self.applied = wanted

    def use(self, database: str) -> None:
        """Make `database` current unless it already is."""
        if database != self.current_database:
            self.run_plain(f"USE {quote_identifier(database)}")
            self.current_database = database

    def resynchronise(self) -> dict[str, str]:
        """Read the applied settings back from the engine (after a SET, or a failed one)."""
        self.applied = self.changed_settings()
        return dict(self.applied)

    def refresh_database(self) -> str:
        """Read the current database back from the engine (after a USE statement)."""
        self.current_database = self.scalar("SELECT currentDatabase()")
        return self.current_database

    def changed_settings(self) -> dict[str, str]:
        """Settings that differ from this connection's baseline (all changed ones at open)."""
        text = bytes(
            self.run_plain(
                "SELECT name, value FROM system.settings WHERE changed", "TSVRaw"
            ).bytes()
        )
        changed = dict(line.split("\t", 1) for line in text.decode().splitlines() if "\t" in line)
        changed.pop("database", None)  # chDB mirrors the current database here; USE owns it
        return {key: value for key, value in changed.items() if self._baseline.get(key) != value}

    def timezone(self, server_timezone: str) -> str:
        """The time zone results are rendered in: the session's, else the server's."""
        return self.applied.get("session_timezone") or server_timezone

    def _reset_clause(self, key: str) -> str:
        if key in self._baseline:
            return f"{key} = {quote_string(self._baseline[key])}"
        return f"{key} = DEFAULT"

    # -- chDB calls -------------------------------------------------------------------

    def run(self, sql: str, fmt: str, parameters: Mapping[str, str]) -> Any:
        """Run one statement; engine failures become ClickHouseError with ClickHouse's text."""
        try:
            with self._gauge.running():
                return self._connection.query(
                    engine_text(sql), fmt, params=dict(parameters) or None
                )
        except Exception as error:  # chDB raises ChdbError/RuntimeError with ClickHouse's text
            raise ClickHouseError.from_engine_text(str(error)) from None

    @contextmanager
    def stream(self, sql: str, fmt: str, parameters: Mapping[str, str]) -> Iterator[Iterator[Any]]:
        """Run one statement whose result is read block by block while the engine works.

        Yields an iterator of chDB result chunks (each one or more blocks in `fmt`); an
        engine error in the middle is raised from it as ClickHouseError. Leaving the block
        early cancels the statement, so a client that hangs up stops the work.
        """
        with self._gauge.running():
            try:
                streaming = self._connection.send_query(
                    engine_text(sql), fmt, params=dict(parameters) or None
                )
            except Exception as error:
                raise ClickHouseError.from_engine_text(str(error)) from None
            finished = False

            def chunks() -> Iterator[Any]:
                nonlocal finished
                try:
                    yield from streaming
                except Exception as error:
                    finished = True  # the engine has ended it already
                    raise ClickHouseError.from_engine_text(str(error)) from None
                finished = True

            try:
                yield chunks()
            finally:
                if not finished:
                    _quietly(streaming.cancel)
                _quietly(streaming.close)

    def run_plain(self, sql: str, fmt: str = PLAIN_FORMAT) -> Any:
        """Run a statement of the server's own (no query parameters)."""
        return self.run(sql, fmt, {})

    def scalar(self, sql: str) -> str:
        """The single value a statement returns, as text."""
        return bytes(self.run_plain(sql, "TSVRaw").bytes()).decode().strip()

    @contextmanager
    def external_tables(self, tables: Sequence[ExternalTable]) -> Iterator[None]:
        """Create and fill a request's uploaded tables for the enclosed statement, then drop them.

        They are temporary tables of this connection only, and this connection is lent to
        the request alone, so no other client ever sees them.
        """
        created: list[ExternalTable] = []
        try:
            for table in tables:
                self.run_plain(table.create_sql())
                created.append(table)
                self.insert(table.insert_head(), table.input_format, [table.content])
            yield
        finally:
            for table in created:
                _quietly(lambda table=table: self.run_plain(table.drop_sql()))

    def insert(self, head: str, input_format: str, data: Iterable[bytes]) -> Any:
        """Stream an INSERT's rows into the engine and commit; returns chDB's InsertResult."""
        with self._gauge.running():
            try:
                inserter = self._connection.send_insert(engine_text(head), input_format)
            except Exception as error:
                raise ClickHouseError.from_engine_text(str(error)) from None
            try:
                for chunk in data:
                    for offset in range(0, len(chunk), _INSERT_CHUNK_BYTES):
                        inserter.append(chunk[offset : offset + _INSERT_CHUNK_BYTES])
                return inserter.finish()
            except ClickHouseError:  # the request body could not be decoded
                _cancel_quietly(inserter)
                raise
            except Exception as error:
                _cancel_quietly(inserter)
                raise ClickHouseError.from_engine_text(str(error)) from None

    def close(self) -> None:
        """Close the chDB connection; the engine stops when its last connection closes."""
        self._connection.close()


def engine_text(sql: str) -> bytes:
    """SQL as the bytes the client sent: undecodable bytes travel as surrogate escapes.

    The HTTP layer decodes request text with `surrogateescape` so a string literal holding
    arbitrary bytes (clickhouse-connect's binary parameters) reaches the engine unchanged.
    """
    return sql.encode("utf-8", "surrogateescape")


def _cancel_quietly(inserter: Any) -> None:
    _quietly(inserter.cancel)


def _quietly(action: Any) -> None:
    try:
        action()
    except Exception:  # already failing or finished; the first error is the one to report
        pass
