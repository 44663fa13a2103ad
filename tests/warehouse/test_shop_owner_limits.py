"""A shop owner's read-only login reads their shops' rows, and nothing of the host or server.

Against the server as `erpbi up` starts it (fixture `secured`): no file appears on the host
whatever form INTO OUTFILE takes, no host file is read, and the system tables that tell
how much data every shop holds (or who else uses the server) answer 497 ACCESS_DENIED by
every path to them, while the admin still reads them and clickhouse-connect and SQL tools
still work for the shop owner.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from clickhouse_connect.driver.client import Client
from shop_owners import ALICE_SHOPS, post_as

from common.settings import Settings

pytestmark = pytest.mark.integration

OUTFILE_FORMS = [
    "SELECT 1 INTO OUTFILE '{path}'",
    "SELECT 1 INTO OUTFILE '{path}' APPEND",
    "SELECT 1 INTO OUTFILE '{path}' TRUNCATE",
    "SELECT 1 INTO OUTFILE '{path}' AND STDOUT",
    "SELECT 1 INTO OUTFILE '{path}' COMPRESSION 'gzip' LEVEL 3",
    "SELECT 1 INTO OUTFILE '{path}' FORMAT CSV",
    "SELECT 1 FORMAT CSV INTO OUTFILE '{path}'",
    "select 1 into outfile '{path}'",
    "SELECT 1 INTO /* a comment */ OUTFILE '{path}'",
    "SELECT 1 INTO -- a comment\n OUTFILE '{path}'",
    "SELECT * FROM (SELECT 1 INTO OUTFILE '{path}')",
    "SELECT 1 UNION ALL SELECT 2 INTO OUTFILE '{path}'",
    "WITH 1 AS x SELECT x INTO OUTFILE '{path}'",
    "SELECT 1 SETTINGS max_threads = 1 INTO OUTFILE '{path}'",
    "SELECT shop_id FROM dwd_sale_out INTO OUTFILE '{path}'",
    "EXPLAIN AST SELECT 1 INTO OUTFILE '{path}'",
    "SHOW TABLES INTO OUTFILE '{path}'",
]


def assert_denied(response: requests.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["X-ClickHouse-Exception-Code"] == "497", response.text
    assert "(ACCESS_DENIED)" in response.text


@pytest.mark.parametrize("form", OUTFILE_FORMS)
def test_into_outfile_never_writes_a_file_for_a_shop_owner(
    secured: Settings, tmp_path: Path, form: str
) -> None:
    target = tmp_path / "stolen.tsv"
    response = post_as(secured, "alice", form.format(path=target))
    assert_denied(response)
    assert "INTO OUTFILE" in response.text
    assert not target.exists()


@pytest.mark.parametrize("form", OUTFILE_FORMS[:8])
def test_into_outfile_never_writes_a_file_for_the_admin_either(
    secured: Settings, tmp_path: Path, form: str
) -> None:
    """As a ClickHouse server over HTTP: 358 INTO_OUTFILE_NOT_ALLOWED, nothing written."""
    target = tmp_path / "export.tsv"
    response = post_as(secured, secured.clickhouse.user, form.format(path=target))
    assert response.status_code == 500, response.text
    assert response.headers["X-ClickHouse-Exception-Code"] == "358"
    assert "INTO OUTFILE is not allowed" in response.text
    assert not target.exists()


@pytest.mark.parametrize(
    "sql",
    ["SELECT 'INTO OUTFILE'", "SELECT 1 -- INTO OUTFILE 'x'", "SELECT 1 AS `into outfile`"],
)
def test_into_outfile_inside_strings_or_comments_is_just_text(secured: Settings, sql: str) -> None:
    assert post_as(secured, "alice", sql).status_code == 200


def test_a_shop_owner_neither_writes_nor_reads_host_files(
    secured: Settings, tmp_path: Path
) -> None:
    written = tmp_path / "written.tsv"
    schema = tmp_path / "schema.proto"
    secret = tmp_path / "secret.txt"
    secret.write_text("the host's secret\n")
    attempts = [
        f"INSERT INTO FUNCTION file('{written}', 'TSV') SELECT 1",
        f"SELECT * FROM file('{secret}', 'LineAsString')",
        f"SELECT file('{secret}')",
        f"DESCRIBE TABLE file('{secret}', 'LineAsString')",
        f"SELECT 1 AS x FORMAT Protobuf SETTINGS output_format_schema = '{schema}'",
        f"SELECT 1 FORMAT Template SETTINGS format_template_row = '{secret}'",
    ]
    for sql in attempts:
        response = post_as(secured, "alice", sql)
        assert_denied(response)
        assert "the host's secret" not in response.text
    url_setting = post_as(
        secured, "alice", "SELECT 1 AS x FORMAT Protobuf", output_format_schema=str(schema)
    )
    assert_denied(url_setting)
    assert not written.exists() and not schema.exists()


def test_settings_that_would_move_the_check_aside_are_refused(secured: Settings) -> None:
    """A parser dialect other than the check's, or another current database per query."""
    assert_denied(post_as(secured, "alice", "SELECT 1", dialect="prql"))
    assert_denied(post_as(secured, "alice", "SELECT 1 SETTINGS dialect = 'kusto'"))
    assert_denied(post_as(secured, "alice", "SELECT count() FROM one SETTINGS database = 'system'"))


SYSTEM_PARTS_PATHS = [
    ("SELECT sum(rows) FROM system.parts WHERE table = 'dwd_sale_out'", {}),
    ("SELECT sum(rows) FROM parts WHERE table = 'dwd_sale_out'", {"database": "system"}),
    ("SELECT sum(rows) FROM `system`.`par\\x74s`", {}),
    ("WITH p AS (SELECT rows FROM system.parts) SELECT sum(rows) FROM p", {}),
    ("SELECT * FROM (SELECT sum(rows) FROM system.parts)", {}),
    ("SELECT (SELECT sum(rows) FROM system.parts)", {}),
    ("SELECT count() FROM dwd_sale_out WHERE shop_id IN system.parts", {}),
    ("SELECT d.shop_id, p.rows FROM dwd_sale_out AS d JOIN system.parts AS p ON 1 = 1", {}),
    ("SELECT 1 UNION ALL SELECT sum(rows) FROM system.parts", {}),
    ("SELECT sum(rows) FROM parts SETTINGS database = 'system'", {}),
    ("SELECT sum(rows) FROM {table:Identifier}", {"param_table": "system.parts"}),
    ("DESCRIBE system.parts", {}),
    ("EXISTS system.parts", {}),
    ("SHOW CREATE TABLE system.parts", {}),
    ("SHOW COLUMNS FROM parts FROM system", {}),
    ("SHOW TABLES FROM system", {}),
    ("SHOW PROCESSLIST", {}),
    ("SELECT query FROM system.query_log", {}),
    ("SELECT * FROM system.processes", {}),
    ("SELECT table_rows FROM information_schema.tables", {}),
    ("SELECT sum(rows) FROM merge('system', '^parts$')", {}),
    ("EXPLAIN AST SELECT sum(rows) FROM system.parts", {}),
    ("EXPLAIN ESTIMATE SELECT * FROM dwd_sale_out", {}),
    ("EXPLAIN indexes = 1 SELECT * FROM dwd_sale_out", {}),
    ("SELECT max(_part_offset), any(_part) FROM dwd_sale_out", {}),
]


@pytest.mark.parametrize(("sql", "params"), SYSTEM_PARTS_PATHS)
def test_a_shop_owner_cannot_learn_other_shops_data_volume(
    secured: Settings, sql: str, params: dict[str, str]
) -> None:
    response = post_as(secured, "alice", sql, **params)
    assert_denied(response)


def test_use_system_in_a_session_does_not_open_system_tables(secured: Settings) -> None:
    session = {"session_id": f"alice-{uuid.uuid4()}"}
    assert post_as(secured, "alice", "USE system", **session).status_code == 200
    session_only = {**session, "database": ""}  # the session's USE, not the URL, decides
    assert_denied(post_as(secured, "alice", "SELECT sum(rows) FROM parts", **session_only))
    assert_denied(post_as(secured, "alice", "SHOW TABLES", **session_only))
    one = post_as(secured, "alice", "SELECT dummy FROM one", **session_only)
    assert one.status_code == 200 and one.text == "0\n"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT name, total_rows FROM system.tables WHERE database = 'erp'",
        "SELECT name FROM system.tables WHERE database = 'erp' AND total_bytes > 0",
        "SELECT * FROM system.tables",
        "SELECT t.* FROM system.tables AS t",
        "SELECT COLUMNS('total') FROM system.tables",
        "SELECT sum(data_compressed_bytes) FROM system.columns WHERE table = 'dwd_sale_out'",
        "SELECT name FROM system.tables WHERE parts > 0",
        "SHOW TABLES WHERE total_rows > 0",
    ],
)
def test_sizes_in_system_tables_and_columns_are_closed(secured: Settings, sql: str) -> None:
    assert_denied(post_as(secured, "alice", sql))


def test_the_admin_still_reads_system_parts(secured: Settings) -> None:
    response = post_as(
        secured,
        secured.clickhouse.user,
        "SELECT sum(rows) FROM system.parts WHERE active AND table = 'dwd_sale_out'",
    )
    assert response.status_code == 200, response.text
    assert int(response.text) >= 4  # every shop's documents, 880004's included


def test_clickhouse_connect_and_sql_tools_still_work_for_a_shop_owner(alice: Client) -> None:
    """alice's client read system.settings on connect; these are what SQL tools ask next."""
    assert {row[0] for row in alice.query("SELECT shop_id FROM dwd_sale_out").result_rows} == set(
        ALICE_SHOPS
    )
    assert "erp" in {row[0] for row in alice.query("SHOW DATABASES").result_rows}
    assert "dwd_sale_out" in {row[0] for row in alice.query("SHOW TABLES").result_rows}
    assert alice.command("EXISTS TABLE dwd_sale_out") == 1
    assert alice.command("EXISTS DATABASE erp") == 1
    described = alice.query("DESCRIBE TABLE dwd_sale_out").result_rows
    assert "shop_id" in {row[0] for row in described}
    shown = alice.query("SHOW COLUMNS FROM dwd_sale_out").result_rows
    assert "shop_id" in {row[0] for row in shown}
    assert "CREATE TABLE" in str(alice.command("SHOW CREATE TABLE dwd_sale_out"))
    engine = alice.query(
        "SELECT engine, engine_full, comment FROM system.tables "
        "WHERE database = 'erp' AND name = 'dwd_sale_out'"
    ).result_rows
    assert engine and "MergeTree" in engine[0][0]
    columns = alice.query(
        "SELECT name, type FROM system.columns WHERE database = 'erp' AND table = 'dwd_sale_out'"
    ).result_rows
    assert "shop_id" in {row[0] for row in columns}
    for sql in [
        "SELECT name FROM system.functions WHERE name = 'sum'",
        "SELECT name FROM system.databases",
        "SELECT count() FROM system.tables WHERE database = 'erp'",
        "SELECT name FROM system.formats WHERE name = 'JSON'",
        "SELECT * FROM system.one",
        "SELECT number FROM system.numbers LIMIT 1",
        "EXPLAIN AST SELECT shop_id FROM dwd_sale_out",
    ]:
        assert alice.query(sql).result_rows, sql
    parameterised = alice.query(
        "SELECT shop_id FROM dwd_sale_out WHERE shop_id = {shop:UInt32}",
        parameters={"shop": ALICE_SHOPS[0]},
    )
    assert parameterised.result_rows == [(ALICE_SHOPS[0],)]


def test_refusals_tell_which_grant_is_missing(secured: Settings) -> None:
    response = post_as(secured, "alice", "SELECT sum(rows) FROM system.parts")
    assert_denied(response)
    assert response.text.startswith(
        "Code: 497. DB::Exception: alice: Not enough privileges. To execute this query, "
        "it's necessary to have the grant SELECT ON system.parts. (ACCESS_DENIED)"
    )


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT 1 SETTINGS max_execution_time = 100000", {}),
        ("SELECT 1", {"max_memory_usage": "0"}),
    ],
)
def test_a_shop_owner_cannot_lift_the_time_and_memory_limits(
    secured: Settings, sql: str, params: dict[str, str]
) -> None:
    assert_denied(post_as(secured, "alice", sql, **params))


def test_a_shop_owners_statements_run_under_the_time_and_memory_limits(secured: Settings) -> None:
    response = post_as(
        secured,
        "alice",
        "SELECT getSetting('max_execution_time'), getSetting('max_memory_usage') FORMAT TSV",
    )
    assert response.status_code == 200, response.text
    assert response.text == f"60\t{4 << 30}\n"


def test_a_shop_owner_flooding_the_server_leaves_the_admin_answering(secured: Settings) -> None:
    """Twenty dashboard-style reads at once: all answer, the admin is never stuck behind them."""
    with ThreadPoolExecutor(20) as pool:
        floods = [pool.submit(post_as, secured, "alice", "SELECT sleep(2)") for _ in range(20)]
        # The admin's query goes while alice's first statements hold their share.
        admin = post_as(secured, secured.clickhouse.user, "SELECT 1")
        answered_during_flood = not all(flood.done() for flood in floods)
        statuses = [flood.result().status_code for flood in floods]
    assert admin.status_code == 200 and admin.text == "1\n"
    assert answered_during_flood
    assert statuses == [200] * 20  # queued for their share, not refused
