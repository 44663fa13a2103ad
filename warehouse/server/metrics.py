"""The server's Prometheus metrics: the `warehouse` row of monitoring/METRICS.md.

Served at `/metrics` on the server's own port without a login, like ClickHouse's
Prometheus endpoint (the server listens on loopback). The series live in a registry of
their own, so nothing else in the process leaks into the scrape.

- `erpbi_warehouse_query_duration_seconds{kind}`: every statement once, when it ends,
  failed or not (the same moment as its query_log row), so errors / count is an error
  ratio. A streamed result ends when its last chunk is sent.
- `erpbi_warehouse_query_errors_total{kind}`: statements that ended in an error, the ones
  query_log records as an exception (a streamed read the client left is one too).
  Requests refused before their statement was read (a wrong password, an undecodable
  body) count as `other`.
- `erpbi_warehouse_rows_inserted_total{table}`: the engine's written rows of each
  successful INSERT, by table name without its database. Like ClickHouse's written_rows
  this includes rows an insert-triggered materialized view writes; the stack's views are
  all refreshable (REFRESH EVERY), so there the count is the rows sent.
- `erpbi_warehouse_connections_in_use`: HTTP requests being served now (a scrape itself
  not included); a streamed result holds its request until the last chunk is sent.
- `erpbi_warehouse_query_cache_requests_total{result}`: the query cache's own hit and miss
  counts (query_cache.py), one per read sent with use_query_cache=1.
- `erpbi_warehouse_peer_rows_copied_total{peer}`, `erpbi_warehouse_peer_copied_up_to_seconds
  {peer}`: with a peer (the cluster profile's second server, peer_sync.py), the rows copied
  from it and the moment up to which what landed there is here too.

Label children are bound once, so the dispatcher's per-statement cost is a dict lookup
and a lock-protected add.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.context_managers import InprogressTracker

from warehouse.server.sqltext import StatementKind, identifier_name, tokens

PATH = "/metrics"
CONTENT_TYPE = CONTENT_TYPE_LATEST

SELECT = "select"
INSERT = "insert"
DDL = "ddl"
OTHER = "other"
KINDS = (SELECT, INSERT, DDL, OTHER)
_SELECT_KEYWORDS = frozenset({"SELECT", "WITH"})
_DDL_KEYWORDS = frozenset(
    {"CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE", "ATTACH", "DETACH", "EXCHANGE", "UNDROP"}
)
UNKNOWN_TABLE = "unknown"  # an INSERT whose table name this server cannot read
TABLE_FUNCTION = "table_function"  # INSERT INTO FUNCTION s3(...), file(...)
# Dashboards answer in milliseconds; an alert watches p99 > 1 s; a long scan may take 10 s.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REGISTRY = CollectorRegistry(auto_describe=True)
QUERY_DURATION = Histogram(
    "erpbi_warehouse_query_duration_seconds",
    "Time from a statement's request to its end, by kind (select/insert/ddl/other).",
    ["kind"],
    buckets=DURATION_BUCKETS,
    registry=REGISTRY,
)
QUERY_ERRORS = Counter(
    "erpbi_warehouse_query_errors_total",
    "Statements that ended in an error, by kind.",
    ["kind"],
    registry=REGISTRY,
)
ROWS_INSERTED = Counter(
    "erpbi_warehouse_rows_inserted_total",
    "Rows written by INSERTs, by table (without its database).",
    ["table"],
    registry=REGISTRY,
)
CONNECTIONS_IN_USE = Gauge(
    "erpbi_warehouse_connections_in_use",
    "HTTP requests being served now (a Prometheus scrape not included).",
    registry=REGISTRY,
)
QUERY_CACHE_REQUESTS = Counter(
    "erpbi_warehouse_query_cache_requests_total",
    "Reads sent with use_query_cache=1, by result (hit/miss).",
    ["result"],
    registry=REGISTRY,
)
# Two single-machine servers (peer_sync.py): what each copies from the other.
PEER_ROWS_COPIED = Counter(
    "erpbi_warehouse_peer_rows_copied_total",
    "Rows copied from another warehouse server that landed there, by peer URL.",
    ["peer"],
    registry=REGISTRY,
)
PEER_COPIED_UP_TO = Gauge(
    "erpbi_warehouse_peer_copied_up_to_seconds",
    "Unix time up to which rows that landed on the peer are here (stops while it is down).",
    ["peer"],
    registry=REGISTRY,
)

_DURATION_BY_KIND = {kind: QUERY_DURATION.labels(kind) for kind in KINDS}
_ERRORS_BY_KIND = {kind: QUERY_ERRORS.labels(kind) for kind in KINDS}
_CACHE_BY_HIT = {
    True: QUERY_CACHE_REQUESTS.labels("hit"),
    False: QUERY_CACHE_REQUESTS.labels("miss"),
}


def statement_kind(kind: StatementKind, keyword: str) -> str:
    """The `kind` label of a statement, from its routing kind and leading keyword."""
    if kind in (StatementKind.INSERT_DATA, StatementKind.INSERT_QUERY):
        return INSERT
    if kind is StatementKind.READ:
        return SELECT if keyword in _SELECT_KEYWORDS else OTHER  # SHOW, DESCRIBE... are other
    return DDL if keyword in _DDL_KEYWORDS else OTHER


def query_ended(kind: str, seconds: float, failed: bool) -> None:
    """Count one statement that has ended, after `seconds`, in an error or not."""
    _DURATION_BY_KIND[kind].observe(seconds)
    if failed:
        _ERRORS_BY_KIND[kind].inc()


def rows_inserted(insert_sql: str, rows: int) -> None:
    """Add a successful INSERT's written rows to its table's count."""
    if rows > 0:
        ROWS_INSERTED.labels(inserted_table(insert_sql)).inc(rows)


def query_cache_lookup(hit: bool) -> None:
    """Count one query cache request (QueryCache's `on_lookup`)."""
    _CACHE_BY_HIT[hit].inc()


def request_in_progress() -> InprogressTracker:
    """Context manager counting the enclosed request in `connections_in_use`."""
    return CONNECTIONS_IN_USE.track_inprogress()


def exposition() -> bytes:
    """The registry in Prometheus's text format (send with CONTENT_TYPE)."""
    return generate_latest(REGISTRY)


def inserted_table(insert_sql: str) -> str:
    """The table an INSERT writes to, without its database: `INSERT INTO erp.t ...` is `t`.

    Reads only the first few tokens, so a long VALUES list costs nothing.
    """
    stream = tokens(insert_sql)
    for token in stream:
        if token.is_word and token.text.upper() == "INTO":
            break
    else:
        return UNKNOWN_TABLE
    name = next(stream, None)
    if name is not None and name.is_word and name.text.upper() == "TABLE":
        name = next(stream, None)
    if name is not None and name.is_word and name.text.upper() == "FUNCTION":
        return TABLE_FUNCTION
    table = UNKNOWN_TABLE
    while name is not None:
        part = identifier_name(name)
        if part is None:
            return UNKNOWN_TABLE
        table = part
        dot = next(stream, None)
        if dot is None or dot.text != ".":
            break
        name = next(stream, None)
    return table
