"""ClickHouse HTTP contract: health, formats, headers, errors, auth, databases, sessions."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from clickhouse_targets import Target

pytestmark = pytest.mark.integration

TWO_ROWS = (
    "SELECT toUInt32(number) AS n, concat('v', toString(number)) AS s FROM system.numbers LIMIT 2"
)


@pytest.mark.parametrize("path", ["/ping", "/replicas_status"])
def test_health_endpoints_answer_ok(target: Target, path: str) -> None:
    response = target.http_session.get(target.base_url + path, timeout=10)
    assert response.status_code == 200
    assert response.text == "Ok.\n"


def test_get_root_without_query_answers_ok(target: Target) -> None:
    assert target.http_session.get(target.base_url + "/", timeout=10).text == "Ok.\n"


def test_select_one_in_url_with_get(target: Target) -> None:
    response = target.http("GET", params={"query": "SELECT 1"})
    assert response.status_code == 200
    assert response.text == "1\n"
    assert response.headers["X-ClickHouse-Format"] == "TabSeparated"
    assert response.headers["Content-Type"].startswith("text/tab-separated-values")
    assert response.headers["X-ClickHouse-Timezone"]
    assert response.headers["X-ClickHouse-Server-Display-Name"]
    summary = json.loads(response.headers["X-ClickHouse-Summary"])
    assert summary["result_rows"] == "1"


def test_query_id_is_echoed_or_generated(target: Target) -> None:
    query_id = f"contract-{uuid.uuid4()}"
    assert (
        target.http(params={"query": "SELECT 1", "query_id": query_id}).headers[
            "X-ClickHouse-Query-Id"
        ]
        == query_id
    )
    assert target.http(params={"query": "SELECT 1"}).headers["X-ClickHouse-Query-Id"]


@pytest.mark.parametrize(
    ("fmt", "expected", "content_type"),
    [
        ("TabSeparated", "0\tv0\n1\tv1\n", "text/tab-separated-values"),
        ("TSVWithNames", "n\ts\n0\tv0\n1\tv1\n", "text/tab-separated-values"),
        ("CSV", '0,"v0"\n1,"v1"\n', "text/csv"),
        ("CSVWithNames", '"n","s"\n0,"v0"\n1,"v1"\n', "text/csv"),
        ("JSONEachRow", '{"n":0,"s":"v0"}\n{"n":1,"s":"v1"}\n', "json"),
        ("Values", "(0,'v0'),(1,'v1')", "text/plain"),
    ],
)
def test_text_formats_are_byte_exact(
    target: Target, fmt: str, expected: str, content_type: str
) -> None:
    response = target.http(data=f"{TWO_ROWS} FORMAT {fmt}".encode())
    assert response.status_code == 200, response.text
    assert response.text == expected
    assert response.headers["X-ClickHouse-Format"] == fmt
    assert content_type in response.headers["Content-Type"]


def test_json_formats(target: Target) -> None:
    document = json.loads(target.sql(f"{TWO_ROWS} FORMAT JSON"))
    assert [column["name"] for column in document["meta"]] == ["n", "s"]
    assert document["data"] == [{"n": 0, "s": "v0"}, {"n": 1, "s": "v1"}]
    assert document["rows"] == 2
    compact = json.loads(target.sql(f"{TWO_ROWS} FORMAT JSONCompact"))
    assert compact["data"] == [[0, "v0"], [1, "v1"]]


def test_binary_formats(target: Target) -> None:
    native = target.http(data=b"SELECT toUInt8(1) AS x FORMAT Native").content
    assert native == b"\x01\x01\x01x\x05UInt8\x01"
    row_binary = target.http(
        data=b"SELECT toUInt8(1) AS x, 'ab' AS s FORMAT RowBinaryWithNamesAndTypes"
    ).content
    assert row_binary == b"\x02\x01x\x01s\x05UInt8\x06String\x01\x02ab"
    parquet = target.http(data=f"{TWO_ROWS} FORMAT Parquet".encode())
    assert parquet.content[:4] == b"PAR1"
    assert parquet.headers["Content-Type"] == "application/octet-stream"


def test_default_format_parameter(target: Target) -> None:
    response = target.http(params={"default_format": "JSONCompact"}, data=b"SELECT 1 AS one")
    assert response.headers["X-ClickHouse-Format"] == "JSONCompact"
    assert json.loads(response.text)["data"] == [[1]]


def test_query_in_url_and_body_are_joined(target: Target) -> None:
    response = target.http(params={"query": "SELECT 1 +"}, data=b"2")
    assert response.text == "3\n"


def test_server_side_query_parameters(target: Target) -> None:
    response = target.http(
        params={"param_x": "41", "param_name": "it's"}, data=b"SELECT {x:UInt8} + 1, {name:String}"
    )
    assert response.text == "42\tit\\'s\n"


def test_statements_without_result_have_no_format_header(target: Target, scratch_db: str) -> None:
    response = target.http(data=f"CREATE TABLE {scratch_db}.t (a UInt8) ENGINE = Memory".encode())
    assert response.status_code == 200
    assert response.content == b""
    assert "X-ClickHouse-Format" not in response.headers


def _assert_clickhouse_error(
    response_status: int, headers: dict[str, str], text: str, code: int, name: str
) -> None:
    assert headers["X-ClickHouse-Exception-Code"] == str(code)
    assert text.startswith(f"Code: {code}. DB::Exception: ")
    assert f"({name})" in text
    assert "(version " in text
    assert response_status >= 400


def test_syntax_error(target: Target) -> None:
    response = target.http(data=b"SELEC 1")
    assert response.status_code == 400
    _assert_clickhouse_error(
        response.status_code, dict(response.headers), response.text, 62, "SYNTAX_ERROR"
    )


def test_unknown_table(target: Target) -> None:
    response = target.http(data=b"SELECT * FROM default.no_such_table_for_contract")
    assert response.status_code == 404
    _assert_clickhouse_error(
        response.status_code, dict(response.headers), response.text, 60, "UNKNOWN_TABLE"
    )


def test_multi_statements_are_refused(target: Target) -> None:
    response = target.http(data=b"SELECT 1; SELECT 2")
    assert response.headers["X-ClickHouse-Exception-Code"] == "62"


def test_into_outfile_is_never_written_over_http(target: Target, tmp_path: Path) -> None:
    """The clause is clickhouse-client's: a server's HTTP interface refuses it (358)."""
    exported = tmp_path / "exported.tsv"
    response = target.http(data=f"SELECT 1 INTO OUTFILE '{exported}' FORMAT TSV".encode())
    assert response.status_code == 500
    _assert_clickhouse_error(
        response.status_code,
        dict(response.headers),
        response.text,
        358,
        "INTO_OUTFILE_NOT_ALLOWED",
    )
    assert "INTO OUTFILE is not allowed" in response.text
    assert not exported.exists()


def test_errors_reach_clickhouse_connect_with_code(target: Target) -> None:
    client = target.client()
    with pytest.raises(DatabaseError) as caught:
        client.query("SELECT * FROM default.no_such_table_for_contract")
    assert caught.value.code == 60
    assert caught.value.name == "UNKNOWN_TABLE"


def test_get_is_readonly(target: Target, scratch_db: str) -> None:
    response = target.http(
        "GET", params={"query": f"CREATE TABLE {scratch_db}.t (a UInt8) ENGINE = Memory"}
    )
    assert response.headers["X-ClickHouse-Exception-Code"] == "164"
    assert "(READONLY)" in response.text


@pytest.mark.parametrize("way", ["basic", "headers", "params"])
def test_wrong_password_is_rejected(target: Target, way: str) -> None:
    wrong = target.password + "-wrong"
    if way == "basic":
        response = target.http(data=b"SELECT 1", auth=(target.user, wrong))
    else:
        credentials = (
            {"X-ClickHouse-User": target.user, "X-ClickHouse-Key": wrong}
            if way == "headers"
            else {"user": target.user, "password": wrong}
        )
        response = target.http_session.post(
            target.base_url + "/",
            params=credentials if way == "params" else None,
            headers=credentials if way == "headers" else None,
            data=b"SELECT 1",
            timeout=10,
        )
    assert response.status_code in (401, 403)
    _assert_clickhouse_error(
        response.status_code, dict(response.headers), response.text, 516, "AUTHENTICATION_FAILED"
    )
    assert wrong not in response.text


def test_right_credentials_by_headers_and_params(target: Target) -> None:
    by_headers = target.http_session.post(
        target.base_url + "/",
        headers={"X-ClickHouse-User": target.user, "X-ClickHouse-Key": target.password},
        data=b"SELECT 1",
        timeout=10,
    )
    by_params = target.http_session.post(
        target.base_url + "/",
        params={"user": target.user, "password": target.password},
        data=b"SELECT 1",
        timeout=10,
    )
    assert (by_headers.text, by_params.text) == ("1\n", "1\n")


def test_clickhouse_connect_rejects_wrong_password(target: Target) -> None:
    with pytest.raises(DatabaseError) as caught:
        target.client(password=target.password + "-wrong")
    assert caught.value.code == 516


def test_database_parameter_selects_current_database(target: Target, scratch_db: str) -> None:
    target.sql("CREATE TABLE t (a UInt8) ENGINE = Memory", database=scratch_db)
    target.sql("INSERT INTO t VALUES (7)", database=scratch_db)
    assert target.sql("SELECT a FROM t", database=scratch_db) == "7\n"
    assert target.sql("SELECT currentDatabase()", database=scratch_db) == f"{scratch_db}\n"
    assert target.sql("SELECT currentDatabase()") != f"{scratch_db}\n"
    client = target.client(database=scratch_db)
    assert client.query("SELECT a FROM t").result_rows == [(7,)]


def test_unknown_database_parameter(target: Target) -> None:
    response = target.http(params={"database": "no_such_db_for_contract"}, data=b"SELECT 1")
    assert response.headers["X-ClickHouse-Exception-Code"] == "81"


def test_url_settings_apply_to_one_query_only(target: Target) -> None:
    assert target.sql("SELECT getSetting('max_block_size')", max_block_size="777") == "777\n"
    assert target.sql("SELECT getSetting('max_block_size')") != "777\n"
    response = target.http(params={"no_such_setting_for_contract": "1"}, data=b"SELECT 1")
    assert response.headers["X-ClickHouse-Exception-Code"] == "115"


def test_http_client_settings_are_accepted(target: Target) -> None:
    params = {
        "wait_end_of_query": "1",
        "send_progress_in_http_headers": "1",
        "http_headers_progress_interval_ms": "10000",
        "cancel_http_readonly_queries_on_client_close": "1",
        "enable_http_compression": "0",
        "date_time_input_format": "best_effort",
        "client_protocol_version": "54405",
    }
    assert target.sql("SELECT 1", **params) == "1\n"


def test_set_is_scoped_to_its_session(target: Target) -> None:
    session_a, session_b = f"a-{uuid.uuid4()}", f"b-{uuid.uuid4()}"
    target.sql("SET max_block_size = 1234", session_id=session_a)
    assert target.sql("SELECT getSetting('max_block_size')", session_id=session_a) == "1234\n"
    assert target.sql("SELECT getSetting('max_block_size')", session_id=session_b) != "1234\n"
    assert target.sql("SELECT getSetting('max_block_size')") != "1234\n"
    assert target.sql("SELECT getSetting('max_block_size')", session_id=session_a) == "1234\n"
    target.sql("SET max_block_size = 4321, max_threads = 1", session_id=session_a)
    assert target.sql("SELECT getSetting('max_block_size')", session_id=session_a) == "4321\n"


def test_use_is_scoped_to_its_session(target: Target, scratch_db: str) -> None:
    session_a = f"a-{uuid.uuid4()}"
    target.sql(f"USE {scratch_db}", session_id=session_a)
    assert target.sql("SELECT currentDatabase()", session_id=session_a) == f"{scratch_db}\n"
    assert (
        target.sql("SELECT currentDatabase()", session_id=f"b-{uuid.uuid4()}") != f"{scratch_db}\n"
    )
    assert target.sql("SELECT currentDatabase()") != f"{scratch_db}\n"
    # The URL parameter still wins over the session's database, as in ClickHouse.
    assert (
        target.sql("SELECT currentDatabase()", session_id=session_a, database="system")
        == "system\n"
    )


def test_session_check_requires_existing_session(target: Target) -> None:
    response = target.http(
        params={"session_id": f"missing-{uuid.uuid4()}", "session_check": "1"}, data=b"SELECT 1"
    )
    assert response.headers["X-ClickHouse-Exception-Code"] == "372"


def test_unknown_path_is_404(target: Target) -> None:
    assert (
        target.http_session.get(target.base_url + "/no/such/handler", timeout=10).status_code == 404
    )


def test_query_posted_as_a_plain_form_body_runs_like_clickhouse(target: Target) -> None:
    """`curl -d 'SELECT 1'` sends a form content type; ClickHouse still reads the body as SQL."""
    response = target.http(
        data=b"SELECT 41 + 1", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 200, response.text
    assert response.text.strip() == "42"
