"""Assembling and running the server: engine + dispatcher + HTTP listener, and shutdown.

`WarehouseServer` is what tests use (port 0, `start()` in a background thread, `stop()`);
`serve()` is what `python -m warehouse.server` runs: it blocks until SIGTERM or SIGINT,
then stops accepting, finishes in-flight requests and closes the chDB connections so the
data path is released for the next start.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping
from types import FrameType, TracebackType

from warehouse.server import metrics
from warehouse.server.auth import UserDirectory
from warehouse.server.config import ServerConfig
from warehouse.server.dispatch import QueryDispatcher
from warehouse.server.engine import ChdbEngine, ExecutionContext
from warehouse.server.handler import WarehouseHttpServer
from warehouse.server.heavy_statements import HeavyStatements
from warehouse.server.peer_sync import PeerSync
from warehouse.server.query_cache import sized_by_body
from warehouse.server.query_log import (
    ServerLog,
    SessionEvent,
    SessionLogEntry,
    now,
    setup_statements,
)
from warehouse.server.row_policy import ShopRowPolicy
from warehouse.server.sessions import SessionRegistry, SessionState
from warehouse.server.sqltext import InsertHead, StatementKind

log = logging.getLogger("warehouse.server")


class WarehouseServer:
    """One chDB engine served over ClickHouse's HTTP interface."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        config.data_path.mkdir(parents=True, exist_ok=True)
        self.engine = ChdbEngine(
            str(config.data_path), config.database, config.engine_connections,
            HeavyStatements(config.heavy_statements),
        )  # fmt: skip
        try:
            for statement in setup_statements():
                self.engine.execute(statement, StatementKind.WRITE, ExecutionContext())
            self.server_log = ServerLog(self._write_log_rows)
            self.peer_sync = PeerSync(
                self.engine, config.database, config.peers, config.user, config.password
            )
            self.peer_sync.catch_up()  # before the port is bound: clients see whole data
            dispatcher = QueryDispatcher(
                engine=self.engine,
                users=UserDirectory({**config.shop_owners, config.user: config.password}),
                sessions=SessionRegistry(on_end=self._session_ended),
                policy=ShopRowPolicy(config.database, frozenset({config.user}), self._admin_query),
                display_name=config.display_name,
                cache=sized_by_body(config.query_cache_bytes, metrics.query_cache_lookup),
                server_log=self.server_log,
            )
            self._httpd = WarehouseHttpServer(
                (config.host, config.port), dispatcher, config.keep_alive_timeout_seconds
            )
        except BaseException:
            self.engine.close()
            raise
        self._thread: threading.Thread | None = None
        self._stopped = False

    def _write_log_rows(self, table: str, rows: bytes) -> None:
        self.engine.insert(InsertHead(f"INSERT INTO {table}", "JSONEachRow", 0), [rows],
                           ExecutionContext())  # fmt: skip

    def _session_ended(self, state: SessionState) -> None:
        self.server_log.session(
            SessionLogEntry(SessionEvent.LOGOUT.value, now(), state.session_id, state.user)
        )

    def _admin_query(
        self, sql: str, parameters: Mapping[str, str] | None = None
    ) -> list[list[str]]:
        """Run a lookup for the row policy as the server itself; rows of text fields.

        Rows end at \\n only (splitlines() would also split at U+2028 inside a value). Bytes
        that are not UTF-8 (a name in an owner's statement, as EXPLAIN AST prints it) stay
        surrogate escapes, as in the request text, and go back to the engine unchanged.
        """
        result = self.engine.execute(
            sql, StatementKind.READ, ExecutionContext(), "TSVRaw", parameters
        )
        lines = result.body.decode("utf-8", "surrogateescape").split("\n")
        if lines[-1] == "":
            lines.pop()  # the newline that ends the last row
        return [line.split("\t") for line in lines]

    @property
    def port(self) -> int:
        """The bound port (useful when configured with port 0)."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for clients, e.g. http://127.0.0.1:8123."""
        return f"http://{self.config.host}:{self.port}"

    def start(self) -> WarehouseServer:
        """Serve in a background thread and return immediately."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="warehouse-http", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread until stop() is called from another thread."""
        log.info(
            "serving ClickHouse HTTP on %s (engine %s, %d connections, data path %s, database %s)",
            self.url,
            self.engine.version,
            self.engine.pool_size,
            self.config.data_path,
            self.config.database,
        )
        self.server_log.start()
        if self.config.peers:
            self.peer_sync.start()
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop accepting, let running statements finish, close the engine (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._httpd.stopping = True
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.peer_sync.stop()
        self.server_log.stop()  # writes what is left, while the engine is still open
        self.engine.close()
        log.info("stopped; chDB session closed")

    def __enter__(self) -> WarehouseServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve(config: ServerConfig) -> None:
    """Run until SIGTERM/SIGINT, then shut down cleanly. Must run on the main thread."""
    server = WarehouseServer(config)
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop_requested.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        while not stop_requested.wait(timeout=1.0):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
