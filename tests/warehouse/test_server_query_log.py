"""system.query_log and system.session_log: what monitoring and an operator read.

An on-call engineer asks the warehouse which statements were slow, which failed and whose
they were, the way they would ask ClickHouse: durations, rows, error codes and the user of
every request, including what the server answers itself (query cache, refusals) and
failed logins. Shop owners cannot read either log.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from clickhouse_targets import Target
from shop_owners import OWNERS, post_as

from common.settings import Settings
from warehouse.client import connect
from warehouse.server.errors import ClickHouseError
from warehouse.server.query_log import MAX_BUFFERED, ServerLog, SessionLogEntry

pytestmark = pytest.mark.integration


def logged(target: Target, query_id: str, columns: str = "type, user") -> list[tuple[object, ...]]:
    target.sql("SYSTEM FLUSH LOGS")
    client = target.client()
    try:
        return [
            tuple(row)
            for row in client.query(
                f"SELECT {columns} FROM system.query_log WHERE query_id = {{id:String}} "
                "AND type != 'QueryStart' AND event_time > now() - 300",
                parameters={"id": query_id},
            ).result_rows
        ]
    finally:
        client.close()


def test_a_finished_query_is_logged_with_its_user_rows_and_duration(target: Target) -> None:
    query_id = f"log-{uuid.uuid4()}"
    client = target.client()
    rows = client.query("SELECT number FROM numbers(1000) WHERE number % 10 = 0",
                        settings={"query_id": query_id}).result_rows  # fmt: skip
    client.close()
    assert len(rows) == 100
    [(kind, user, query_kind, read_rows, result_rows, duration_ms, code)] = logged(
        target, query_id,
        "type, user, query_kind, read_rows, result_rows, query_duration_ms, exception_code",
    )  # fmt: skip
    assert (kind, user, query_kind, code) == ("QueryFinish", target.user, "Select", 0)
    assert read_rows == 1000
    assert result_rows == 100
    assert 0 <= duration_ms < 60_000


def test_a_failed_query_is_logged_with_its_error_code(target: Target) -> None:
    query_id = f"log-{uuid.uuid4()}"
    response = target.http(params={"query": "SELECT no_such_column", "query_id": query_id})
    assert response.status_code == 404
    [(kind, code, exception)] = logged(target, query_id, "type, exception_code, exception")
    assert (kind, code) == ("ExceptionBeforeStart", 47)
    assert "UNKNOWN_IDENTIFIER" in exception


def test_the_log_fills_without_a_flush_within_seconds(target: Target) -> None:
    """Monitoring polls; it does not send SYSTEM FLUSH LOGS (ClickHouse: every 7.5 s)."""
    query_id = f"log-{uuid.uuid4()}"
    target.sql("SELECT 1", query_id=query_id)
    client = target.client()
    deadline = time.monotonic() + 30
    found: list[object] = []
    while not found and time.monotonic() < deadline:
        found = client.query(
            "SELECT query_id FROM system.query_log WHERE query_id = {id:String}",
            parameters={"id": query_id},
        ).result_rows
    client.close()
    assert found, "the query did not reach system.query_log within 30 s"


def test_a_stream_that_fails_after_its_first_rows_is_logged_as_such(target: Target) -> None:
    query_id = f"log-{uuid.uuid4()}"
    sql = ("SELECT number, throwIf(number = 3000000, 'boom') FROM numbers(5000000) "
           "SETTINGS max_block_size = 65536, max_threads = 1")  # fmt: skip
    response = target.http(params={"query": sql, "query_id": query_id})
    assert response.status_code == 200  # the first rows had gone out before the failure
    assert "boom" in response.content.decode("utf-8", "replace")
    [(kind, code)] = logged(target, query_id, "type, exception_code")
    assert kind == "ExceptionWhileProcessing"
    assert code == 395  # FUNCTION_THROW_IF_VALUE_IS_NON_ZERO


@pytest.mark.parametrize("target", ["chdb"], indirect=True)  # a real one's cache is its own
def test_a_query_cache_answer_is_logged_as_read_from_the_cache(target: Target) -> None:
    marker = uuid.uuid4().hex
    sql = f"SELECT '{marker}'"
    first, second = f"log-{uuid.uuid4()}", f"log-{uuid.uuid4()}"
    for query_id in (first, second):
        target.sql(sql, query_id=query_id, use_query_cache="1", query_cache_ttl="60")
    assert logged(target, first, "query_cache_usage") == [("None",)]
    assert logged(target, second, "query_cache_usage") == [("Read",)]


def test_a_shop_owner_is_logged_by_name_and_cannot_read_the_logs(secured: Settings) -> None:
    query_id = f"log-{uuid.uuid4()}"
    assert post_as(secured, "alice", "SELECT count() FROM dwd_sale_out", query_id=query_id).ok
    for table in ("system.query_log", "system.session_log", "_server_log.query_log"):
        response = post_as(secured, "alice", f"SELECT * FROM {table}")
        assert response.status_code == 403, response.text
        assert response.headers["X-ClickHouse-Exception-Code"] == "497"
    admin = connect(secured.clickhouse)
    admin.command("SYSTEM FLUSH LOGS")
    rows = admin.query(
        "SELECT user, type FROM system.query_log WHERE query_id = {id:String}",
        parameters={"id": query_id},
    ).result_rows
    admin.close()
    assert rows == [("alice", "QueryFinish")]


def test_sessions_and_refused_logins_are_in_the_session_log(secured: Settings) -> None:
    session_id = f"log-session-{uuid.uuid4()}"
    assert post_as(secured, "alice", "SELECT 1", session_id=session_id).ok
    assert post_as(secured, "alice", "SELECT 2", session_id=session_id).ok
    clickhouse = secured.clickhouse
    refused = requests.post(
        f"http://{clickhouse.host}:{clickhouse.port}/", data=b"SELECT 1",
        params={"session_id": session_id}, auth=("alice", "not-her-password"), timeout=30,
    )  # fmt: skip
    assert refused.status_code == 403
    admin = connect(secured.clickhouse)
    admin.command("SYSTEM FLUSH LOGS")
    rows = admin.query(
        "SELECT type, user, failure_reason FROM system.session_log "
        "WHERE session_id = {id:String} ORDER BY event_time_microseconds",
        parameters={"id": session_id},
    ).result_rows
    everything = admin.query("SELECT * FROM system.session_log").result_rows
    admin.close()
    assert [row[:2] for row in rows] == [("LoginSuccess", "alice"), ("LoginFailure", "alice")]
    assert "Authentication failed" in rows[1][2]
    assert not any(OWNERS["alice"] in str(row) or "not-her-password" in str(row)
                   for row in everything)  # fmt: skip


def test_rows_the_engine_could_not_take_are_kept_for_the_next_flush() -> None:
    written: list[bytes] = []
    failing = [True]

    def writer(table: str, rows: bytes) -> None:
        if failing[0]:
            raise ClickHouseError(241, "MEMORY_LIMIT_EXCEEDED", "no room")
        written.append(rows)

    server_log = ServerLog(writer)
    server_log.session(SessionLogEntry("LoginSuccess", 1.0, "s1", "alice"))
    server_log.flush()
    assert written == []
    server_log.session(SessionLogEntry("Logout", 2.0, "s1", "alice"))
    failing[0] = False
    server_log.flush()
    [batch] = written
    assert [line.count(b'"s1"') for line in batch.splitlines()] == [1, 1]
    assert batch.index(b"LoginSuccess") < batch.index(b"Logout")  # order kept


def test_an_engine_that_never_takes_rows_cannot_grow_the_buffer_without_bound() -> None:
    def writer(table: str, rows: bytes) -> None:
        raise ClickHouseError(241, "MEMORY_LIMIT_EXCEEDED", "no room")

    server_log = ServerLog(writer)
    for n in range(MAX_BUFFERED + 10):
        server_log.session(SessionLogEntry("LoginFailure", float(n), "", "mallory"))
    server_log.flush()
    assert server_log.dropped == 10
