"""The warehouse server's Prometheus endpoint: what the `warehouse` scrape job reads.

Prometheus scrapes `/metrics` without a login; after dashboards read, the Flink sink
inserts and a query fails, the series an on-call engineer and the alerts watch move by
exactly that. Only the chDB server has this endpoint (a real ClickHouse serves its own
Prometheus endpoint on another port), so these tests use `chdb_server` directly.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
from clickhouse_targets import Target
from prometheus_client.parser import text_string_to_metric_families

from warehouse.server import WarehouseServer
from warehouse.server.metrics import inserted_table, statement_kind
from warehouse.server.sqltext import StatementKind, classify, first_keyword

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

FAMILIES = {
    "erpbi_warehouse_query_duration_seconds",
    "erpbi_warehouse_query_errors",
    "erpbi_warehouse_rows_inserted",
    "erpbi_warehouse_connections_in_use",
    "erpbi_warehouse_query_cache_requests",
}


@pytest.fixture
def server(chdb_server: WarehouseServer) -> Target:
    return Target("chdb", "127.0.0.1", chdb_server.port, "default", chdb_server.config.password)


@pytest.fixture
def scratch_database(server: Target) -> Iterator[str]:
    name = f"metrics_{uuid.uuid4().hex[:10]}"
    server.sql(f"CREATE DATABASE {name}")
    yield name
    server.sql(f"DROP DATABASE IF EXISTS {name}")


def scrape(server: Target) -> Samples:
    """Every sample of one anonymous scrape, by name and labels."""
    response = requests.get(server.base_url + "/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.mark.integration
def test_metrics_answer_prometheus_without_a_login(server: Target) -> None:
    response = requests.get(server.base_url + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    families = {family.name for family in text_string_to_metric_families(response.text)}
    assert FAMILIES <= families
    samples = scrape(server)
    assert value(samples, "erpbi_warehouse_connections_in_use") == 0, "a scrape is not counted"
    for kind in ("select", "insert", "ddl", "other"):  # every kind is there from the start
        assert ("erpbi_warehouse_query_duration_seconds_count", (("kind", kind),)) in samples
        bucket = (("kind", kind), ("le", "1.0"))
        assert ("erpbi_warehouse_query_duration_seconds_bucket", bucket) in samples


@pytest.mark.integration
def test_selects_inserts_and_failures_move_their_series(
    server: Target, scratch_database: str
) -> None:
    table = f"metrics_orders_{uuid.uuid4().hex[:8]}"
    server.sql(
        f"CREATE TABLE {scratch_database}.{table} (id UInt32) ENGINE = MergeTree ORDER BY id"
    )
    before = scrape(server)

    for number in range(3):
        assert server.sql(f"SELECT {number}") == f"{number}\n"
    rows = "\n".join(json.dumps({"id": number}) for number in range(5))
    server.sql(f"INSERT INTO {scratch_database}.{table} FORMAT JSONEachRow\n{rows}")
    server.sql(f"INSERT INTO {scratch_database}.{table} VALUES (100), (101)")
    failed = server.http(data=b"SELECT * FROM no_such_table_for_metrics")
    assert failed.status_code == 404
    refused = server.http(data=b"SELECT 1", auth=("default", "not-the-password"))
    assert refused.status_code in (401, 403)

    after = scrape(server)
    duration = "erpbi_warehouse_query_duration_seconds"
    assert moved(before, after, f"{duration}_count", kind="select") == 4, "3 answered, 1 failed"
    assert moved(before, after, f"{duration}_count", kind="insert") == 2
    assert moved(before, after, f"{duration}_sum", kind="select") > 0
    assert moved(before, after, f"{duration}_bucket", kind="select", le="+Inf") == 4
    assert moved(before, after, "erpbi_warehouse_rows_inserted_total", table=table) == 7
    assert moved(before, after, "erpbi_warehouse_query_errors_total", kind="select") == 1
    assert moved(before, after, "erpbi_warehouse_query_errors_total", kind="insert") == 0
    assert moved(before, after, "erpbi_warehouse_query_errors_total", kind="other") == 1, (
        "a refused login counts as an error of kind other"
    )
    # The last request's handler lets go of its connection just after the client has the
    # answer, so a scrape right then may still count it: idle means back to 0 at once.
    assert _idle_within(server, seconds=5.0), "a request is still counted as being served"


def _idle_within(server: Target, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while value(scrape(server), "erpbi_warehouse_connections_in_use") != 0:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.integration
def test_ddl_is_timed_as_ddl(server: Target) -> None:
    name = f"metrics_ddl_{uuid.uuid4().hex[:10]}"
    before = scrape(server)
    server.sql(f"CREATE DATABASE {name}")
    server.sql(f"DROP DATABASE {name}")
    after = scrape(server)
    assert moved(before, after, "erpbi_warehouse_query_duration_seconds_count", kind="ddl") == 2


@pytest.mark.integration
def test_a_repeated_cached_read_is_a_hit(server: Target) -> None:
    """The query cache applies to reads sent with use_query_cache=1 (query_cache.py)."""
    query = f"SELECT 'metrics-{uuid.uuid4().hex}'"
    before = scrape(server)
    for _ in range(3):
        server.sql(query, use_query_cache="1", query_cache_ttl="60")
    after = scrape(server)
    assert moved(before, after, "erpbi_warehouse_query_cache_requests_total", result="miss") == 1
    assert moved(before, after, "erpbi_warehouse_query_cache_requests_total", result="hit") == 2


@pytest.mark.integration
def test_a_running_query_is_a_connection_in_use(server: Target) -> None:
    running = threading.Thread(target=server.sql, args=("SELECT sleep(1)",))
    running.start()
    try:
        deadline = time.monotonic() + 10
        seen = 0.0
        while running.is_alive() and time.monotonic() < deadline and seen < 1:
            seen = value(scrape(server), "erpbi_warehouse_connections_in_use")
            time.sleep(0.05)
        assert seen >= 1
    finally:
        running.join(timeout=30)
    assert _idle_within(server, seconds=5.0), "the finished query is still counted"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("SELECT 1", "select"),
        ("(SELECT 1)", "select"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "select"),
        ("WITH 1 AS x INSERT INTO t SELECT x", "insert"),
        ("INSERT INTO t VALUES (1)", "insert"),
        ("CREATE TABLE t (a UInt8) ENGINE = Memory", "ddl"),
        ("ALTER TABLE t ADD COLUMN b UInt8", "ddl"),
        ("DROP TABLE t", "ddl"),
        ("SHOW TABLES", "other"),
        ("SET max_threads = 1", "other"),
        ("SYSTEM FLUSH LOGS", "other"),
        ("OPTIMIZE TABLE t FINAL", "other"),
    ],
)
def test_statement_kind(sql: str, kind: str) -> None:
    assert statement_kind(classify(sql), first_keyword(sql)) == kind


@pytest.mark.unit
def test_an_insert_with_data_is_an_insert() -> None:
    assert statement_kind(StatementKind.INSERT_DATA, "INSERT") == "insert"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("INSERT INTO erp.dwd_sale_out (a, b) SETTINGS async_insert = 0", "dwd_sale_out"),
        ('insert into `my db`."orders" VALUES (1)', "orders"),
        ("INSERT INTO TABLE dim_shop SELECT 1", "dim_shop"),
        ("WITH 1 AS x INSERT INTO erp.t SELECT x", "t"),
        ("INSERT INTO t(a) VALUES (1)", "t"),
        ("INSERT INTO FUNCTION file('out.tsv') SELECT 1", "table_function"),
        ("INSERT INTO 'not a name' VALUES", "unknown"),
    ],
)
def test_inserted_table_drops_the_database(sql: str, table: str) -> None:
    assert inserted_table(sql) == table
