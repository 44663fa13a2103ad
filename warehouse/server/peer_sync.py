"""Copying from the other warehouse servers what landed there and not here.

Two single-machine servers (``clickhouse.replicas: 2``, the cluster profile) are both fed:
every writer uses the first server that answers, so while one is stopped the other takes
the writes. Each server therefore copies from its peers the rows that reached them, by
the time they landed (``_loaded_at``, set by the receiving server):

- before it answers its first request, everything its peers got since its own newest row
  (less a minute, for writes that were in flight when it stopped); a server that comes
  back serves only once it has caught up;
- then, every few seconds, what landed on the peers since the last copy, up to a
  few seconds ago (an INSERT's rows all carry the moment it started, and become visible
  when it commits).

Only the ReplacingMergeTree tables with ``_loaded_at`` (facts, dimensions, inventory) are
copied: a row copied twice, or copied back to where it came from, is the same key and
version, which the engine keeps once. The serving tables are not copied: each server
refreshes its own from its facts. Forecasts, alert history and ops records are written by
their jobs to the server they use, and are not copied (their next run rewrites them).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from typing import Any, Protocol
from urllib.parse import urlsplit

from clickhouse_connect import get_client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from warehouse.server import metrics
from warehouse.server.engine import ExecutionContext
from warehouse.server.sqltext import InsertHead, StatementKind

log = logging.getLogger("warehouse.server.peer_sync")

# Rows that landed this recently are left for the next copy (their INSERT may still run).
SETTLE_SECONDS = 3.0
# A server coming back copies from this long before its own newest row.
CATCH_UP_OVERLAP_SECONDS = 60.0
COPY_EVERY_SECONDS = 3.0

_TABLES_SQL = (
    "SELECT t.name FROM system.tables AS t INNER JOIN system.columns AS c "
    "ON c.database = t.database AND c.table = t.name "
    "WHERE t.database = {database:String} AND c.name = '_loaded_at' "
    "AND t.engine LIKE '%ReplacingMergeTree' ORDER BY t.name"
)


class Engine(Protocol):
    def execute(self, sql: str, kind: StatementKind, context: ExecutionContext,
                default_format: str = ..., query_parameters: Any = ...) -> Any: ...  # fmt: skip

    def insert(self, head: InsertHead, data: Any, context: ExecutionContext) -> Any: ...


class PeerSync:
    """Copies rows from ``peers`` (base URLs) into this server's ``engine``."""

    def __init__(
        self,
        engine: Engine,
        database: str,
        peers: Sequence[str],
        user: str,
        password: str,
        every_seconds: float = COPY_EVERY_SECONDS,
        open_peer: Callable[[str], Any] | None = None,
    ) -> None:
        self._engine = engine
        self._database = database
        self._peers = list(peers)
        self._every = every_seconds
        self._open_peer = open_peer or (
            lambda url: _open_peer(url, user, password, database)
        )
        self._clients: dict[str, Any] = {}
        self._copied_up_to: dict[tuple[str, str], int] = {}  # (peer, table) -> epoch ms
        self._unreachable: set[str] = set()
        self.rows_copied: dict[str, int] = {peer: 0 for peer in self._peers}
        self.last_copy_ms: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the two ways it runs -------------------------------------------------------------

    def catch_up(self) -> int:
        """Copy from every peer that answers; a peer that does not is skipped. Rows copied."""
        copied = sum(self.copy_from(peer, settle_seconds=0.0) for peer in self._peers)
        if self._peers:
            log.info("caught up from peers %s: %d rows", ", ".join(self._peers), copied)
        return copied

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="peer-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for client in self._clients.values():
            with suppress(Exception):
                client.close()
        self._clients.clear()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            for peer in self._peers:
                try:
                    self.copy_from(peer)
                except Exception:  # noqa: BLE001 - the next round tries again
                    log.exception("copy from %s failed; trying again in %gs", peer, self._every)

    # -- one copy ---------------------------------------------------------------------------

    def copy_from(self, peer: str, settle_seconds: float = SETTLE_SECONDS) -> int:
        """Copy what landed on ``peer`` since the last copy, up to ``settle_seconds`` ago;
        0 if it is down. The next copy starts ``SETTLE_SECONDS`` ago all the same."""
        try:
            client = self._client(peer)
            now_ms = int(client.command("SELECT toUnixTimestamp64Milli(now64(3))"))
            up_to = now_ms - int(settle_seconds * 1000)
            settled = now_ms - int(SETTLE_SECONDS * 1000)
            copied = sum(self._copy_table(client, peer, table, up_to, settled)
                         for table in self._tables())  # fmt: skip
        except OperationalError as error:
            self._clients.pop(peer, None)
            if peer not in self._unreachable:
                log.warning("peer %s does not answer (%s); copying resumes when it does",
                            peer, type(error).__name__)  # fmt: skip
            self._unreachable.add(peer)
            return 0
        if peer in self._unreachable:
            log.info("peer %s answers again", peer)
            self._unreachable.discard(peer)
        self.rows_copied[peer] += copied
        self.last_copy_ms[peer] = settled
        metrics.PEER_ROWS_COPIED.labels(peer).inc(copied)
        metrics.PEER_COPIED_UP_TO.labels(peer).set(settled / 1000)
        if copied:
            log.info("copied %d rows from %s", copied, peer)
        return copied

    def _copy_table(self, client: Any, peer: str, table: str, up_to: int, settled: int) -> int:
        since = self._copied_up_to.get((peer, table))
        if since is None:
            since = self._newest_here(table) - int(CATCH_UP_OVERLAP_SECONDS * 1000)
        if up_to <= since:
            return 0
        query = (
            f"SELECT * FROM `{self._database}`.`{table}` "
            f"WHERE _loaded_at > fromUnixTimestamp64Milli({since}) "
            f"AND _loaded_at <= fromUnixTimestamp64Milli({up_to}) FORMAT Native"
        )
        try:
            with client.raw_stream(query) as stream:
                result = self._engine.insert(
                    InsertHead(f"INSERT INTO `{self._database}`.`{table}`", "Native", 0),
                    _nonempty(stream),
                    ExecutionContext(),
                )
        except DatabaseError as error:
            if isinstance(error, OperationalError) or "UNKNOWN_TABLE" not in str(error):
                raise
            return 0  # the peer is not migrated yet (it is starting): the next round copies
        self._copied_up_to[(peer, table)] = min(up_to, settled)
        return int(result.summary.get("written_rows", 0))

    # -- this server ------------------------------------------------------------------------

    def _tables(self) -> list[str]:
        return [row[0] for row in self._local_rows(_TABLES_SQL, {"database": self._database})]

    def _newest_here(self, table: str) -> int:
        rows = self._local_rows(
            f"SELECT toUnixTimestamp64Milli(max(_loaded_at)) FROM `{self._database}`.`{table}`"
        )
        return int(rows[0][0]) if rows and rows[0][0] not in ("", "\\N") else 0

    def _local_rows(self, sql: str, parameters: dict[str, str] | None = None) -> list[list[str]]:
        result = self._engine.execute(sql, StatementKind.READ, ExecutionContext(), "TSVRaw",
                                      parameters)  # fmt: skip
        return [line.split("\t") for line in result.body.decode().splitlines() if line]

    def _client(self, peer: str) -> Any:
        if peer not in self._clients:
            self._clients[peer] = self._open_peer(peer)
        return self._clients[peer]


def _nonempty(stream: Any) -> Iterator[bytes]:
    for chunk in stream:
        if chunk:
            yield bytes(chunk)


def _open_peer(url: str, user: str, password: str, database: str) -> Any:
    parts = urlsplit(url)
    return get_client(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 8123,
        secure=parts.scheme == "https",
        username=user,
        password=password,
        database=database,
        compress=False,
        connect_timeout=2,
        send_receive_timeout=120,
    )
