"""The server as a security boundary: every way a shop owner might reach past their shops.

Against the server as `erpbi up` starts it (fixture `secured`), as alice. What the other
shop-owner tests already hold is not repeated here: INTO OUTFILE and file() in every form,
merge(), system.parts / query_log / processes and the size columns of system.tables and
columns, SHOW listings, the `database` and `dialect` settings, additional_table_filters in
a SETTINGS clause, a SET or the URL, max_execution_time in a SETTINGS clause and
max_memory_usage in the URL (test_shop_owner_limits.py, test_row_policy.py,
test_shop_owner_checks.py). Here: the other table functions, the system tables about users
and access, the other limit settings and SET, every kind of write, multi-statements,
comments and quoting around names, dictionaries, views and CTEs, a shop table created
while alice is connected, what an internal error tells the client, and fuzzed HTTP.

A refusal is ClickHouse's: 497 ACCESS_DENIED (HTTP 403) with the missing privilege named,
and nothing of another shop in the answer.
"""

from __future__ import annotations

import base64
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shop_owners import ALICE_SHOPS, OWNERS, post_as

from common.settings import Settings
from warehouse.client import connect

pytestmark = pytest.mark.integration

OTHER_SHOPS = ("880002", "880004")  # bob's and nobody's: never in an answer to alice


def assert_denied(response: requests.Response, *why: str) -> None:
    """497 ACCESS_DENIED as ClickHouse answers it, saying `why`, and no other shop's data."""
    assert response.status_code == 403, response.text
    assert response.headers["X-ClickHouse-Exception-Code"] == "497", response.text
    assert response.text.startswith("Code: 497. DB::Exception: alice: Not enough privileges")
    assert "(ACCESS_DENIED)" in response.text
    for text in why:
        assert text in response.text
    assert not any(shop in response.text for shop in OTHER_SHOPS), response.text
    assert "bob" not in response.text


def shops_in(response: requests.Response) -> set[int]:
    assert response.status_code == 200, response.text
    return {int(line) for line in response.text.split()}


@pytest.fixture(scope="module")
def admin(secured: Settings) -> Iterator[Client]:
    client = connect(secured.clickhouse)
    yield client
    client.close()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


# -- 1. table functions ------------------------------------------------------------------

REFUSED_TABLE_FUNCTIONS = [
    ("url", "SELECT * FROM url('http://127.0.0.1:1/x', 'CSV', 'a String')"),
    ("remote", "SELECT * FROM remote('127.0.0.1', system.users)"),
    ("remote", "SELECT shop_id FROM remote('127.0.0.1', 'erp', 'dwd_sale_out')"),
    ("remoteSecure", "SELECT shop_id FROM remoteSecure('127.0.0.1', erp.dwd_sale_out)"),
    ("s3", "SELECT * FROM s3('http://127.0.0.1:1/b/x.csv', 'CSV', 'a String')"),
    ("cluster", "SELECT shop_id FROM cluster('default', erp.dwd_sale_out)"),
    ("clusterAllReplicas", "SELECT shop_id FROM clusterAllReplicas('default', erp.dwd_sale_out)"),
    ("input", "SELECT * FROM input('a String')"),
    ("executable", "SELECT * FROM executable('x.sh', 'TSV', 'a String')"),
    ("jdbc", "SELECT * FROM jdbc('jdbc:x', 'db', 't')"),
    ("odbc", "SELECT * FROM odbc('DSN=x', 'db', 't')"),
    ("mysql", "SELECT * FROM mysql('127.0.0.1:1', 'db', 't', 'u', 'p')"),
    ("postgresql", "SELECT * FROM postgresql('127.0.0.1:1', 'db', 't', 'u', 'p')"),
    ("sqlite", "SELECT * FROM sqlite('/tmp/x.db', 't')"),
    ("mongodb", "SELECT * FROM mongodb('127.0.0.1:1', 'd', 'c', 'u', 'p', 'a String')"),
    ("redis", "SELECT * FROM redis('127.0.0.1:1', 'k', 'k String')"),
    ("hdfs", "SELECT * FROM hdfs('hdfs://127.0.0.1:1/y', 'CSV', 'a String')"),
    ("azureBlobStorage", "SELECT * FROM azureBlobStorage('x', 'y', 'z')"),
    ("fileCluster", "SELECT * FROM fileCluster('default', '/etc/passwd', 'LineAsString')"),
    ("urlCluster", "SELECT * FROM urlCluster('default', 'http://127.0.0.1:1/', 'CSV', 'a String')"),
    ("s3Cluster", "SELECT * FROM s3Cluster('default', 'http://127.0.0.1:1/b', 'CSV', 'a String')"),
    ("view", "SELECT * FROM view(SELECT shop_id FROM erp.dwd_sale_out)"),
    ("loop", "SELECT shop_id FROM loop(erp.dwd_sale_out) LIMIT 1"),
    ("dictionary", "SELECT * FROM dictionary('erp.any_dictionary')"),
    ("format", "SELECT * FROM format(CSV, 'a String', '1')"),
    ("generateRandom", "SELECT * FROM generateRandom('a UInt8') LIMIT 1"),
    # spelt the way the engine still reads them
    ("REMOTE", "SeLeCt * FrOm REMOTE('127.0.0.1', system.users)"),
    ("url", "SELECT * FROM /**/url/**/('http://127.0.0.1:1/x', 'CSV', 'a String')"),
    ("url", "SELECT * FROM `url`('http://127.0.0.1:1/x', 'CSV', 'a String')"),
    ("remote", "SELECT * FROM remote -- a comment\n('127.0.0.1', erp.dwd_sale_out)"),
    ("remote", "SELECT * FROM (SELECT * FROM remote('127.0.0.1', erp.dwd_sale_out))"),
    ("remote", "WITH r AS (SELECT * FROM remote('127.0.0.1', system.users)) SELECT * FROM r"),
    ("remote", "SELECT shop_id FROM dwd_sale_out WHERE shop_id IN "
               "(SELECT shop_id FROM remote('127.0.0.1', erp.dwd_sale_out))"),
]  # fmt: skip


@pytest.mark.parametrize(("function", "sql"), REFUSED_TABLE_FUNCTIONS)
def test_table_functions_that_reach_out_are_refused(
    secured: Settings, function: str, sql: str
) -> None:
    assert_denied(post_as(secured, "alice", sql), f"the table function {function}()")


def test_a_table_function_name_written_with_escapes_is_refused(secured: Settings) -> None:
    response = post_as(secured, "alice", "SELECT * FROM `ur\\x6c`('http://127.0.0.1:1/', 'CSV')")
    assert_denied(response, "a quoted name with a line break or an escape")


def test_writing_through_a_table_function_is_refused(secured: Settings) -> None:
    sql = "INSERT INTO FUNCTION url('http://127.0.0.1:1/', 'CSV', 'a UInt8') SELECT 1"
    assert_denied(post_as(secured, "alice", sql), "may only read")


@pytest.mark.parametrize(
    ("sql", "answer"),
    [
        ("SELECT number FROM numbers(3)", "0\n1\n2\n"),
        ("SELECT count() FROM numbers_mt(10)", "10\n"),
        ("SELECT * FROM zeros(2)", "0\n0\n"),
        ("SELECT * FROM generate_series(1, 3)", "1\n2\n3\n"),
        ("SELECT * FROM values('a UInt8', 1, 2)", "1\n2\n"),
        ("SELECT count() FROM null('a UInt8')", "0\n"),
    ],
)
def test_generators_are_the_table_functions_a_shop_owner_may_use(
    secured: Settings, sql: str, answer: str
) -> None:
    """They read nothing but what the statement gives them (shop_owner_reads.py)."""
    response = post_as(secured, "alice", sql)
    assert response.status_code == 200, response.text
    assert response.text == answer


# -- 2. system tables about users, access and other data ---------------------------------

CLOSED_SYSTEM_TABLES = [
    "users", "grants", "row_policies", "quotas", "quota_usage", "quota_limits",
    "settings_profiles", "settings_profile_elements", "roles", "role_grants",
    "enabled_roles", "user_directories", "dictionaries", "session_log", "text_log",
    "mutations", "merges", "disks", "replicas", "clusters", "macros", "errors",
]  # fmt: skip


@pytest.mark.parametrize("table", CLOSED_SYSTEM_TABLES)
def test_system_tables_about_users_access_and_data_are_closed(
    secured: Settings, table: str
) -> None:
    response = post_as(secured, "alice", f"SELECT * FROM system.{table}")
    assert_denied(response, f"the grant SELECT ON system.{table}")


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("SHOW USERS", "SHOW USERS"),
        ("SHOW ROW POLICIES", "SHOW ROW"),
        ("SHOW QUOTAS", "SHOW QUOTAS"),
        ("SHOW ACCESS", "SHOW ACCESS"),
        ("SHOW DICTIONARIES", "SHOW DICTIONARIES"),
        ("SHOW CREATE USER alice", "may not run SHOW"),
        ("SHOW CREATE ROW POLICY shop_owner_rows ON erp.dwd_sale_out", "may not run SHOW"),
        ("DESCRIBE TABLE system.users", "the grant SHOW COLUMNS ON system.users"),
        ("EXISTS TABLE system.grants", "the grant SHOW TABLES ON system.grants"),
    ],
)
def test_show_statements_about_users_and_access_are_closed(
    secured: Settings, sql: str, why: str
) -> None:
    assert_denied(post_as(secured, "alice", sql), why)


@pytest.fixture
def scratch_copy(admin: Client) -> Iterator[str]:
    """An unfiltered copy of every shop's documents in a database of the admin's."""
    database = unique("boundary_scratch")
    admin.command(f"CREATE DATABASE {database}")
    admin.command(
        f"CREATE TABLE {database}.sale_copy ENGINE = MergeTree ORDER BY shop_id "
        "AS SELECT shop_id, io_id FROM erp.dwd_sale_out"
    )
    yield database
    admin.command(f"DROP DATABASE IF EXISTS {database}")


def test_system_tables_and_columns_list_the_warehouse_database_only(
    secured: Settings, admin: Client, scratch_copy: str
) -> None:
    """As SHOW TABLES FROM <other database> is refused, the catalogue shows no other database:
    not a scratch database's tables, not the server's own log tables."""
    everywhere = "SELECT DISTINCT database FROM system.{table} ORDER BY database"
    for table in ("tables", "columns"):
        response = post_as(secured, "alice", everywhere.format(table=table))
        assert response.status_code == 200, response.text
        assert response.text == "erp\n"
    for sql in [
        f"SELECT name, create_table_query FROM system.tables WHERE database = '{scratch_copy}'",
        f"SELECT table, name FROM system.columns WHERE database = '{scratch_copy}'",
        "SELECT name FROM system.tables WHERE database IN ('system', '_server_log')",
        "SELECT name FROM system.tables WHERE name = 'sale_copy' SETTINGS max_threads = 1",
    ]:
        response = post_as(secured, "alice", sql)
        assert response.status_code == 200, response.text
        assert response.text == "", sql
    assert_denied(
        post_as(secured, "alice", f"SELECT * FROM {scratch_copy}.sale_copy"),
        f"the grant SELECT ON {scratch_copy}.sale_copy",
    )
    shown = post_as(secured, "alice", "SHOW TABLES")
    assert "dwd_sale_out" in shown.text.split()
    listed = admin.query(f"SELECT name FROM system.tables WHERE database = '{scratch_copy}'")
    assert listed.result_rows == [("sale_copy",)]  # the admin's catalogue is whole


# -- 3. settings and SET -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "params", "setting"),
    [
        ("SET max_execution_time = 0", {}, None),
        ("SET max_memory_usage = 0", {}, None),
        ("SET readonly = 0", {}, None),
        ("SET allow_ddl = 1", {}, None),
        ("SET dialect = 'kusto'", {}, None),
        ("set ADDITIONAL_TABLE_FILTERS = {}", {}, None),
        ("SELECT 1", {"max_execution_time": "0"}, "max_execution_time"),
        ("SELECT 1", {"MAX_MEMORY_USAGE": "0"}, "MAX_MEMORY_USAGE"),
        ("SELECT 1 SETTINGS max_memory_usage = 0", {}, "max_memory_usage"),
        ('SELECT 1 SETTINGS "max_memory_usage" = 0', {}, "max_memory_usage"),
        ("SELECT 1 SETTINGS `max_execution_time` = 0", {}, "max_execution_time"),
        ("SELECT 1 SETTINGS Max_Execution_Time = 0", {}, "Max_Execution_Time"),
        ("SELECT 1 SETTINGS max_execution_time/**/=/**/0", {}, "max_execution_time"),
        ("SELECT 1 SETTINGS max_threads = 1, max_memory_usage = 0", {}, "max_memory_usage"),
        ("SELECT * FROM (SELECT 1 SETTINGS max_execution_time = 0)", {}, "max_execution_time"),
        ("SELECT 1 SETTINGS `max_memory_usag\\x65` = 0", {}, "a setting named with escapes"),
        ("SELECT 1 SETTINGS allow_introspection_functions = 1", {}, None),
        ("SELECT 1 SETTINGS format_template_resultset = '/etc/passwd'", {}, None),
    ],
)
def test_settings_that_lift_the_filter_or_the_limits_are_refused(
    secured: Settings, sql: str, params: dict[str, str], setting: str | None
) -> None:
    response = post_as(secured, "alice", sql, **params)
    if sql.upper().startswith("SET "):
        assert_denied(response, "may only read")
    else:
        assert_denied(response, f"may not set {setting}" if setting else "may not set")


def test_a_session_cannot_carry_a_lifted_limit(secured: Settings) -> None:
    session = {"session_id": unique("alice-session")}
    assert_denied(post_as(secured, "alice", "SET max_execution_time = 0", **session))
    response = post_as(secured, "alice", "SELECT getSetting('max_execution_time')", **session)
    assert response.status_code == 200 and response.text == "60\n", response.text


@pytest.mark.parametrize(
    "clause",
    [
        "readonly = 0",
        "allow_ddl = 1",
        "timeout_overflow_mode = 'break'",
        "max_memory_usage_for_user = 0",
        "additional_result_filter = 'shop_id > 0'",
        "max_threads = 1, optimize_move_to_prewhere = 0",
    ],
)
def test_settings_an_owner_may_pass_leave_filter_and_limits_in_place(
    secured: Settings, clause: str
) -> None:
    response = post_as(
        secured,
        "alice",
        "SELECT shop_id, getSetting('max_execution_time'), getSetting('max_memory_usage') "
        f"FROM dwd_sale_out SETTINGS {clause} FORMAT TSV",
    )
    assert response.status_code == 200, response.text
    rows = {tuple(line.split("\t")) for line in response.text.splitlines()}
    assert rows == {(str(shop), "60", str(4 << 30)) for shop in ALICE_SHOPS}


# -- 4. writes ----------------------------------------------------------------------------

WRITES = [
    "INSERT INTO dwd_sale_out (io_id, shop_id) VALUES ('X', 880001)",
    "INSERT INTO dwd_sale_out (io_id, shop_id) SELECT io_id, 880001 FROM dwd_sale_out",
    'INSERT INTO dwd_sale_out FORMAT JSONEachRow {"io_id": "X", "shop_id": 880001}',
    "WITH 1 AS x INSERT INTO dwd_sale_out (io_id, shop_id) VALUES ('X', 880001)",
    "INSERT INTO dwd_sale_out (io_id, shop_id) SETTINGS readonly = 0 VALUES ('X', 880001)",
    "ALTER TABLE dwd_sale_out UPDATE status = 'x' WHERE 1",
    "ALTER TABLE dwd_sale_out ADD COLUMN stolen String",
    "ALTER TABLE dwd_sale_out DROP PARTITION tuple()",
    "DELETE FROM dwd_sale_out WHERE shop_id = 880002",
    "UPDATE dwd_sale_out SET status = 'x' WHERE 1",
    "TRUNCATE TABLE dwd_sale_out",
    "DROP TABLE dwd_sale_out",
    "DROP DATABASE erp",
    "CREATE TABLE erp.mine (shop_id UInt32) ENGINE = Memory",
    "CREATE TABLE erp.mine ENGINE = Memory AS SELECT * FROM dwd_sale_out",
    "CREATE VIEW erp.mine AS SELECT * FROM dwd_sale_out",
    "CREATE MATERIALIZED VIEW erp.mine ENGINE = Memory AS SELECT * FROM dwd_sale_out",
    "CREATE DICTIONARY erp.mine (shop_id UInt64, io_id String) PRIMARY KEY shop_id "
    "SOURCE(CLICKHOUSE(TABLE 'dwd_sale_out')) LAYOUT(HASHED()) LIFETIME(0)",
    "CREATE DATABASE mine",
    "CREATE FUNCTION mine AS (x) -> x",
    "RENAME TABLE dwd_sale_out TO mine",
    "EXCHANGE TABLES dwd_sale_out AND dim_shop",
    "DETACH TABLE dwd_sale_out",
    "ATTACH TABLE erp.mine (a UInt8) ENGINE = Memory",
    "UNDROP TABLE erp.mine",
    "OPTIMIZE TABLE dwd_sale_out FINAL",
    "BACKUP TABLE erp.dwd_sale_out TO File('/tmp/mine')",
    "SYSTEM RELOAD DICTIONARIES",
    "SYSTEM DROP QUERY CACHE",
    "SYSTEM FLUSH LOGS",
    "SYSTEM STOP MERGES",
    "SYSTEM REFRESH VIEW rmv_sale_out_hourly",
    "SYSTEM SHUTDOWN",
    "KILL QUERY WHERE 1",
    "GRANT SELECT ON *.* TO alice",
    "REVOKE SELECT ON erp.* FROM bob",
    "CREATE USER mallory IDENTIFIED BY 'x'",
    "CREATE ROW POLICY mine ON erp.dwd_sale_out USING 1 TO alice",
    "DROP ROW POLICY shop_owner_rows ON erp.dwd_sale_out",
    # the statement's keyword behind comments, brackets and odd case
    "/**/DrOp/**/TABLE dwd_sale_out",
    "-- a comment\ntruncate table dwd_sale_out",
    "(DROP TABLE dwd_sale_out)",
]


def warehouse_state(admin: Client) -> tuple[object, ...]:
    """What any write would change: databases, warehouse tables, alice's documents."""
    return (
        admin.query("SELECT name FROM system.databases ORDER BY name").result_rows,
        admin.query(
            "SELECT name FROM system.tables WHERE database = 'erp' "
            "AND NOT startsWith(name, '.') ORDER BY name"  # a refresh's temporary table
        ).result_rows,
        admin.query("DESCRIBE TABLE erp.dwd_sale_out").result_rows,
        admin.query(
            "SELECT count(), groupArraySorted(20)(shop_id), groupArraySorted(20)(status) "
            "FROM erp.dwd_sale_out"
        ).result_rows,
    )


@pytest.mark.parametrize("sql", WRITES)
def test_a_shop_owner_writes_nothing(secured: Settings, admin: Client, sql: str) -> None:
    before = warehouse_state(admin)
    response = post_as(secured, "alice", sql, readonly="0", allow_ddl="1")
    assert_denied(response, "may only read (shop owners have read access)")
    assert warehouse_state(admin) == before


def test_check_table_is_refused(secured: Settings) -> None:
    assert_denied(post_as(secured, "alice", "CHECK TABLE dwd_sale_out"), "run CHECK TABLE")


# -- 5. multi-statements ------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; DROP TABLE dwd_sale_out",
        "SELECT 1;DROP TABLE dwd_sale_out;",
        "SELECT shop_id FROM dwd_sale_out; "
        "SELECT shop_id FROM dwd_sale_out SETTINGS additional_table_filters = {}",
        "SELECT ';'; DROP TABLE dwd_sale_out",
        "SELECT 1 /* ; */ ; DROP TABLE dwd_sale_out",
        "SELECT 1 -- ;\n; SET max_execution_time = 0",
        "USE system; SELECT * FROM users",
        "SELECT 1;\n-- only a comment after it\nSELECT shop_id FROM system.parts",
    ],
)
def test_a_multi_statement_body_is_refused_whole(
    secured: Settings, admin: Client, sql: str
) -> None:
    before = warehouse_state(admin)
    response = post_as(secured, "alice", sql)
    assert response.status_code == 400, response.text
    assert response.headers["X-ClickHouse-Exception-Code"] == "62"
    assert "Multi-statements are not allowed" in response.text
    assert "(SYNTAX_ERROR)" in response.text
    assert not any(shop in response.text for shop in OTHER_SHOPS)
    assert warehouse_state(admin) == before


def test_a_multi_statement_body_runs_nothing_even_for_the_admin(
    secured: Settings, admin: Client, scratch_copy: str
) -> None:
    response = post_as(
        secured, secured.clickhouse.user, f"SELECT 1; DROP TABLE {scratch_copy}.sale_copy"
    )
    assert response.headers["X-ClickHouse-Exception-Code"] == "62", response.text
    assert admin.command(f"EXISTS TABLE {scratch_copy}.sale_copy") == 1


@pytest.mark.parametrize(
    ("sql", "answer"),
    [("SELECT 1;", "1\n"), ("SELECT 1 -- ; DROP TABLE dwd_sale_out", "1\n"), ("SELECT ';'", ";\n")],
)
def test_a_semicolon_at_the_end_or_inside_text_is_one_statement(
    secured: Settings, sql: str, answer: str
) -> None:
    response = post_as(secured, "alice", sql)
    assert response.status_code == 200 and response.text == answer, response.text


# -- 6. comments, quoting, escapes and case around names ----------------------------------


@pytest.mark.parametrize(
    ("sql", "params", "why"),
    [
        ("SeLeCt * FrOm system./**/users", {}, "SELECT ON system.users"),
        ("SELECT * FROM system/**/./**/users", {}, "SELECT ON system.users"),
        ("SELECT * FROM system . users", {}, "SELECT ON system.users"),
        ("SELECT * FROM system.-- a comment\nusers", {}, "SELECT ON system.users"),
        ("SELECT * FROM system.# a comment\nusers", {}, "SELECT ON system.users"),
        ("SELECT * FROM `system`.`users`", {}, "SELECT ON system.users"),
        ('SELECT * FROM "system"."users"', {}, "SELECT ON system.users"),
        ("SELECT * FROM \u201csystem\u201d.\u201cusers\u201d", {}, "SELECT ON system.users"),
        ("select name from system.users where 1", {}, "SELECT ON system.users"),
        ("SELECT * FROM system.Users", {}, "SELECT ON system.Users"),
        ("SELECT * FROM SYSTEM.USERS", {}, "SELECT ON SYSTEM.USERS"),
        ("SELECT * FROM (SELECT * FROM system.users)", {}, "SELECT ON system.users"),
        ("WITH u AS (SELECT * FROM system.users) SELECT * FROM u", {}, "SELECT ON system.users"),
        ("SELECT (SELECT any(name) FROM system.users)", {}, "SELECT ON system.users"),
        ("SELECT 1 FROM one WHERE 'bob' IN system.users", {}, "SELECT ON system.users"),
        ("SELECT * FROM users", {"database": "system"}, "SELECT ON system.users"),
        ("SELECT * FROM {t:Identifier}", {"param_t": "system.grants"}, "SELECT ON system.grants"),
        ("SELECT * FROM `system`.`u\\x73ers`", {}, "a quoted name with a line break or an escape"),
        ("SELECT * FROM `sys\\x74em`.users", {}, "a quoted name with a line break or an escape"),
        ("SELECT * FROM `system`.`us\\\ners`", {}, "a quoted name with a line break or an escape"),
        ("SELECT * FROM system.grants AS `a\nTableIdentifier erp.x`", {},
         "a quoted name with a line break or an escape"),
        ("SELECT dictGet('erp.d', 'io_id', 1) /* SELECT 1 */", {}, "the function dictGet()"),
    ],
)  # fmt: skip
def test_names_are_checked_as_the_engine_reads_them(
    secured: Settings, sql: str, params: dict[str, str], why: str
) -> None:
    assert_denied(post_as(secured, "alice", sql, **params), why)


# -- 7. dictionaries ---------------------------------------------------------------------


@pytest.fixture
def shop_dictionary(admin: Client) -> Iterator[str]:
    """A dictionary over every shop's documents, loaded as the admin (so unfiltered)."""
    name = unique("boundary_shop_dict")
    admin.command(
        f"CREATE DICTIONARY erp.{name} (shop_id UInt64, io_id String) PRIMARY KEY shop_id "
        "SOURCE(CLICKHOUSE(DB 'erp' TABLE 'dwd_sale_out')) LAYOUT(HASHED()) LIFETIME(0)"
    )
    assert admin.command(f"SELECT dictGet('erp.{name}', 'io_id', toUInt64(880002))") == "RLS-880002"
    yield name
    admin.command(f"DROP DICTIONARY IF EXISTS erp.{name}")


@pytest.mark.parametrize(
    ("call", "function"),
    [
        ("dictGet('erp.{name}', 'io_id', toUInt64(880002))", "dictGet"),
        ("DICTGET('erp.{name}', 'io_id', toUInt64(880002))", "DICTGET"),
        ("dictGetString('erp.{name}', 'io_id', toUInt64(880002))", "dictGetString"),
        ("dictGetOrDefault('erp.{name}', 'io_id', toUInt64(880002), '')", "dictGetOrDefault"),
        ("dictHas('erp.{name}', toUInt64(880002))", "dictHas"),
        ("dictGet(concat('erp.', '{name}'), 'io_id', toUInt64(880002))", "dictGet"),
        ("(SELECT dictGet('erp.{name}', 'io_id', toUInt64(880002)))", "dictGet"),
    ],
)
def test_dictionary_functions_are_refused(
    secured: Settings, shop_dictionary: str, call: str, function: str
) -> None:
    response = post_as(secured, "alice", f"SELECT {call.format(name=shop_dictionary)}")
    assert_denied(response, f"the function {function}()")
    assert "RLS-880002" not in response.text


def test_a_dictionary_read_as_a_table_is_filtered(secured: Settings, shop_dictionary: str) -> None:
    response = post_as(secured, "alice", f"SELECT shop_id FROM {shop_dictionary}")
    assert shops_in(response) == set(ALICE_SHOPS)
    assert_denied(
        post_as(secured, "alice", f"SELECT * FROM dictionary('erp.{shop_dictionary}')"),
        "the table function dictionary()",
    )


# -- 8. views, materialized views and CTEs ------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "WITH d AS (SELECT shop_id FROM dwd_sale_out) SELECT shop_id FROM d",
        "WITH d AS (SELECT * FROM erp.dwd_sale_out), e AS (SELECT shop_id FROM d) "
        "SELECT shop_id FROM e",
        "WITH (SELECT groupArray(shop_id) FROM dwd_sale_out) AS s SELECT arrayJoin(s)",
        "SELECT arrayJoin((SELECT groupArray(shop_id) FROM dwd_sale_out))",
        "SELECT shop_id FROM (SELECT * FROM (SELECT shop_id FROM erp.dwd_sale_out))",
        "SELECT shop_id FROM dim_shop WHERE shop_id IN (SELECT shop_id FROM dwd_sale_out)",
        "SELECT shop_id FROM dwd_sale_out UNION ALL SELECT shop_id FROM dws_sale_out_hourly",
        "SELECT b.shop_id FROM numbers(1) AS a CROSS JOIN dim_shop AS b",
        "SELECT shop_id FROM dwd_sale_out FINAL PREWHERE 1",
        "SELECT shop_id FROM shop_access",
        # a materialized view reads its target table under its own name
        "SELECT shop_id FROM rmv_sale_out_hourly",
        "SELECT shop_id FROM erp.rmv_sale_out_hourly AS m",
        "WITH m AS (SELECT * FROM rmv_sale_out_hourly) SELECT shop_id FROM m",
        "SELECT shop_id FROM dwd_sale_out WHERE shop_id IN (SELECT shop_id FROM "
        "rmv_sale_out_hourly) UNION ALL SELECT shop_id FROM rmv_sale_out_hourly",
    ],
)
def test_ctes_subqueries_and_views_read_only_her_shops(secured: Settings, sql: str) -> None:
    assert shops_in(post_as(secured, "alice", sql)) == set(ALICE_SHOPS)


def test_everything_with_a_shop_id_shows_only_her_shops(secured: Settings, admin: Client) -> None:
    """Every table, view, materialized view or dictionary of the warehouse: what alice sees
    of it is hers, and where the admin sees other shops alice sees none of them."""
    names = [
        row[0]
        for row in admin.query(
            "SELECT DISTINCT table FROM system.columns WHERE database = 'erp' "
            "AND name = 'shop_id' AND NOT startsWith(table, '.')"
        ).result_rows
    ]
    engines = {
        row[0]
        for row in admin.query(
            "SELECT engine FROM system.tables "
            "WHERE database = 'erp' AND name IN {names:Array(String)}",
            parameters={"names": names},
        ).result_rows
    }
    assert {"View", "MaterializedView"} <= engines  # the kinds that read another table
    leaky = []
    for name in names:
        seen = shops_in(post_as(secured, "alice", f"SELECT DISTINCT shop_id FROM erp.`{name}`"))
        if not seen <= set(ALICE_SHOPS):
            leaky.append((name, seen))
    assert leaky == []


@pytest.fixture
def view_over_a_scratch_copy(admin: Client, scratch_copy: str) -> Iterator[str]:
    """A view of the warehouse that reads a table of another database (no filter there)."""
    name = unique("boundary_copy_view")
    admin.command(f"CREATE VIEW erp.{name} AS SELECT shop_id, io_id FROM {scratch_copy}.sale_copy")
    yield name
    admin.command(f"DROP VIEW IF EXISTS erp.{name}")


def test_a_view_over_an_unfiltered_table_is_filtered_by_its_own_shop_id(
    secured: Settings, admin: Client, view_over_a_scratch_copy: str
) -> None:
    everyone = {row[0] for row in admin.query(f"SELECT shop_id FROM {view_over_a_scratch_copy}")
                .result_rows}  # fmt: skip
    assert {880002, 880004} <= everyone
    response = post_as(secured, "alice", f"SELECT shop_id FROM {view_over_a_scratch_copy}")
    assert shops_in(response) == set(ALICE_SHOPS)


# -- 9. a shop table created while the owner is connected ---------------------------------

NEW_TABLE_ROWS = "(880001, 'a'), (880002, 'b'), (880003, 'c'), (880004, 'd')"


def create_then_fill(admin: Client, name: str) -> None:
    admin.command(
        f"CREATE TABLE erp.{name} (shop_id UInt32, note String) ENGINE = MergeTree ORDER BY shop_id"
    )
    admin.command(f"INSERT INTO erp.{name} VALUES {NEW_TABLE_ROWS}")


def create_filled(admin: Client, name: str) -> None:
    admin.command(
        f"CREATE TABLE erp.{name} ENGINE = MergeTree ORDER BY shop_id AS "
        f"SELECT * FROM values('shop_id UInt32, note String', {NEW_TABLE_ROWS})"
    )


def add_the_shop_column(admin: Client, name: str) -> None:
    """The table existed without shop_id (so unfiltered) until the admin added it."""
    admin.command(f"ALTER TABLE erp.{name} ADD COLUMN shop_id UInt32")
    admin.command(f"INSERT INTO erp.{name} (note, shop_id) VALUES "
                  "('a', 880001), ('b', 880002), ('c', 880003), ('d', 880004)")  # fmt: skip


def rename_into_the_warehouse(admin: Client, name: str) -> None:
    admin.command(f"CREATE DATABASE {name}_staging")
    admin.command(
        f"CREATE TABLE {name}_staging.t ENGINE = MergeTree ORDER BY shop_id AS "
        f"SELECT * FROM values('shop_id UInt32, note String', {NEW_TABLE_ROWS})"
    )
    admin.command(f"RENAME TABLE {name}_staging.t TO erp.{name}")
    admin.command(f"DROP DATABASE {name}_staging")


@dataclass(frozen=True)
class NewShopTable:
    make: Callable[[Client, str], None]
    exists_before: bool = False  # created (without shop_id) before alice's first read


@pytest.mark.parametrize(
    "how",
    [
        NewShopTable(create_then_fill),
        NewShopTable(create_filled),
        NewShopTable(add_the_shop_column, exists_before=True),
        NewShopTable(rename_into_the_warehouse),
    ],
    ids=["create-then-insert", "create-as-select", "add-shop-id-column", "rename-in"],
)
def test_a_shop_table_created_while_the_owner_is_connected_is_filtered_at_once(
    alice: Client, admin: Client, how: NewShopTable
) -> None:
    """The server keeps the list of shop tables a few seconds; DDL must not wait for that."""
    name = unique("boundary_new")
    if how.exists_before:
        admin.command(f"CREATE TABLE erp.{name} (note String) ENGINE = MergeTree ORDER BY note")
    try:
        # alice is connected and has just read: the server has its list of shop tables
        assert {row[0] for row in alice.query("SELECT shop_id FROM dwd_sale_out").result_rows} == (
            set(ALICE_SHOPS)
        )
        how.make(admin, name)
        seen = {int(row[0]) for row in alice.query(f"SELECT shop_id FROM {name}").result_rows}
        assert seen == set(ALICE_SHOPS)
        counted = alice.query(f"SELECT count() FROM erp.{name} WHERE shop_id IN (880002, 880004)")
        assert counted.result_rows == [(0,)]
    finally:
        admin.command(f"DROP TABLE IF EXISTS erp.{name}")


def test_a_view_created_over_a_new_shop_table_is_filtered_at_once(
    alice: Client, admin: Client
) -> None:
    table, view = unique("boundary_new"), unique("boundary_new_view")
    alice.query("SELECT 1 FROM dwd_sale_out")
    try:
        create_then_fill(admin, table)
        admin.command(f"CREATE VIEW erp.{view} AS SELECT shop_id AS shop, note FROM erp.{table}")
        seen = {int(row[0]) for row in alice.query(f"SELECT shop FROM {view}").result_rows}
        assert seen == set(ALICE_SHOPS)
    finally:
        admin.command(f"DROP VIEW IF EXISTS erp.{view}")
        admin.command(f"DROP TABLE IF EXISTS erp.{table}")


def test_a_view_the_owner_tries_to_create_is_refused(alice: Client) -> None:
    with pytest.raises(DatabaseError, match="ACCESS_DENIED"):
        alice.command("CREATE VIEW erp.alice_view AS SELECT * FROM dwd_sale_out")
    assert alice.command("EXISTS TABLE erp.alice_view") == 0


# -- 10. what an internal error tells the client ------------------------------------------

PYTHON_INTERNALS = re.compile(
    r"Traceback|<class '|object at 0x|File \"|\b[A-Z][A-Za-z]*(Error|Exception)\(|"
    r"pybind|incompatible function arguments"
)


@dataclass(frozen=True)
class OddRequest:
    """A request as raw as the client sends it: the URL's query string is not re-encoded."""

    query_string: str = ""
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    user: str = "alice"
    method: str = "POST"


ODD_REQUESTS = {
    "protocol version not ASCII digits": OddRequest(
        "query=SELECT%201&client_protocol_version=%C2%B2"
    ),
    "literal not UTF-8": OddRequest(body=b"SELECT '\xff\xfe'"),
    "alias not UTF-8": OddRequest(body=b"SELECT 1 AS `\xff`"),
    "table name not UTF-8": OddRequest(body=b"SELECT * FROM `\xff`.x"),
    "bare name not UTF-8": OddRequest(body=b"SELECT * FROM \xff.x"),
    "parameter value not UTF-8": OddRequest("param_x=%FF", b"SELECT hex({x:String})"),
    "parameter name not UTF-8": OddRequest("param_%FF=1", b"SELECT 1"),
    "identifier parameter not UTF-8": OddRequest("param_t=%FF", b"SELECT * FROM {t:Identifier}"),
    "parameter of the wrong type": OddRequest("param_x=abc", b"SELECT {x:UInt8}"),
    "parameter missing": OddRequest(body=b"SELECT {x:UInt8}"),
    "format not UTF-8": OddRequest("default_format=%FF", b"SELECT 1"),
    "format unknown": OddRequest("default_format=Nope", b"SELECT 1"),
    "format header odd": OddRequest(body=b"SELECT 1", headers=(("X-ClickHouse-Format", "\xff"),)),
    "setting value not UTF-8": OddRequest("max_threads=%FF", b"SELECT 1"),
    "setting name odd": OddRequest("a-b=1", b"SELECT 1"),
    "database not UTF-8": OddRequest("database=%FF", b"SELECT 1"),
    "database with a NUL": OddRequest("database=%00", b"SELECT 1"),
    "query_id not UTF-8": OddRequest("query_id=%FF", b"SELECT 1"),
    "query_id beyond latin-1": OddRequest("query_id=%E2%82%AC", b"SELECT 1"),
    "session timeout nan": OddRequest("session_id=odd&session_timeout=nan", b"SELECT 1"),
    "session timeout inf": OddRequest("session_id=odd2&session_timeout=inf", b"SELECT 1"),
    "session id not UTF-8": OddRequest("session_id=%FF%0A", b"SELECT 1"),
    "readonly junk": OddRequest("readonly=%C2%B2", b"SELECT 1"),
    "compress=1": OddRequest("compress=1", b"SELECT 1"),
    "body not gzip": OddRequest(body=b"not gzip", headers=(("Content-Encoding", "gzip"),)),
    "body not zstd": OddRequest(body=b"not zstd", headers=(("Content-Encoding", "zstd"),)),
    "unknown encoding": OddRequest(body=b"SELECT 1", headers=(("Content-Encoding", "xz"),)),
    "multipart without boundary": OddRequest(
        body=b"junk", headers=(("Content-Type", "multipart/form-data"),)
    ),
    "multipart cut short": OddRequest(
        body=b'--x\r\nContent-Disposition: form-data; name="query"\r\n\r\nSEL',
        headers=(("Content-Type", "multipart/form-data; boundary=x"),),
    ),
    "form field not UTF-8": OddRequest(
        body=b"query=SELECT%20%27%FF%27&param_x=%FF",
        headers=(("Content-Type", "application/x-www-form-urlencoded"),),
    ),
    "authorization not base64": OddRequest(
        body=b"SELECT 1", headers=(("Authorization", "Basic !!"),), user=""
    ),
    "authorization not UTF-8": OddRequest(
        body=b"SELECT 1", headers=(("Authorization", "Basic /w=="),), user=""
    ),
    "user header odd": OddRequest(
        body=b"SELECT 1", headers=(("X-ClickHouse-User", "\xff"),), user=""
    ),
    "empty": OddRequest(body=b""),
    "a semicolon": OddRequest(body=b";"),
    "a comment": OddRequest(body=b"-- nothing"),
    "string not closed": OddRequest(body=b"SELECT 'abc"),
    "comment not closed": OddRequest(body=b"SELECT 1 /* x"),
    "heredoc not closed": OddRequest(body=b"SELECT $a$ x"),
    "unicode quote not closed": OddRequest(body="SELECT \u2018x".encode()),
    "NUL byte": OddRequest(body=b"SELECT 1\x00"),
    "nested too deep": OddRequest(body=b"SELECT " + b"(" * 3000 + b"1" + b")" * 3000),
    "EXPLAIN alone": OddRequest(body=b"EXPLAIN"),
    "SHOW alone": OddRequest(body=b"SHOW"),
    "SHOW COLUMNS alone": OddRequest(body=b"SHOW COLUMNS"),
    "SHOW TABLES FROM nothing": OddRequest(body=b"SHOW TABLES FROM"),
    "DESCRIBE alone": OddRequest(body=b"DESCRIBE"),
    "WITH alone": OddRequest(body=b"WITH"),
    "a bracket": OddRequest(body=b"("),
    "SETTINGS cut short": OddRequest(body=b"SELECT 1 SETTINGS"),
    "FORMAT cut short": OddRequest(body=b"SELECT 1 FORMAT"),
    "INSERT cut short": OddRequest(body=b"INSERT INTO"),
    "admin: name not UTF-8": OddRequest(body=b"SELECT * FROM `\xff`.x", user="default"),
    "admin: insert of junk": OddRequest(
        body=b"INSERT INTO dim_shop FORMAT JSONEachRow\n{{{", user="default"
    ),
    "admin: parameter not UTF-8": OddRequest(
        "param_x=%FF", b"SELECT hex({x:String})", user="default"
    ),
    "admin: protocol version": OddRequest(
        "client_protocol_version=%C2%B2", b"SELECT 1 FORMAT Native", user="default"
    ),
}


def send_odd(secured: Settings, request: OddRequest) -> requests.Response:
    clickhouse = secured.clickhouse
    url = f"http://{clickhouse.host}:{clickhouse.port}/?database=erp"
    if request.query_string:
        url += "&" + request.query_string
    headers = dict(request.headers)
    if request.user:
        password = OWNERS.get(request.user) or clickhouse.password.get_secret_value()
        token = base64.b64encode(f"{request.user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    prepared = requests.Request(request.method, url, headers=headers, data=request.body).prepare()
    prepared.url = url  # exactly as written: %FF stays one byte 0xFF on the server
    with requests.Session() as session:
        return session.send(prepared, timeout=60)


def server_log(secured: Settings) -> Path:
    return secured.paths.logs_dir / "clickhouse.log"


@pytest.mark.parametrize("case", list(ODD_REQUESTS))
def test_odd_requests_get_clickhouse_answers_without_python_internals(
    secured: Settings, case: str
) -> None:
    log = server_log(secured)
    logged_before = log.stat().st_size
    response = send_odd(secured, ODD_REQUESTS[case])
    assert not PYTHON_INTERNALS.search(response.text), response.text
    if response.status_code != 200:
        assert re.match(r"Code: \d+\. DB::Exception: ", response.text), response.text
        assert response.headers["X-ClickHouse-Exception-Code"].isdigit()
    assert not any(shop in response.text for shop in OTHER_SHOPS)
    with log.open("rb") as lines:
        lines.seek(logged_before)
        assert b"Traceback" not in lines.read()  # no server bug behind the answer either


@pytest.mark.parametrize(
    ("case", "status", "answer"),
    [
        ("protocol version not ASCII digits", 200, b"1\n"),  # junk means 0, as in ClickHouse
        ("literal not UTF-8", 200, b"\xff\xfe\n"),  # alice's bytes work as the admin's do
        ("parameter value not UTF-8", 200, b"FF\n"),  # the engine gets the byte that was sent
        ("admin: parameter not UTF-8", 200, b"FF\n"),
        ("parameter name not UTF-8", 400, b"A query parameter name is not valid UTF-8"),
        ("format not UTF-8", 404, b"(UNKNOWN_FORMAT)"),
        ("query_id not UTF-8", 400, b"query_id may only hold printable ASCII characters"),
        ("query_id beyond latin-1", 400, b"query_id may only hold printable ASCII characters"),
    ],
)
def test_odd_requests_get_the_answer_clickhouse_would_give(
    secured: Settings, case: str, status: int, answer: bytes
) -> None:
    response = send_odd(secured, ODD_REQUESTS[case])
    assert response.status_code == status, response.text
    assert (response.content == answer) if status == 200 else (answer in response.content)


def test_a_query_id_cannot_add_response_headers(secured: Settings) -> None:
    request = OddRequest("query=SELECT%201&query_id=x%0D%0ASet-Cookie:%20stolen=1")
    response = send_odd(secured, request)
    assert "Set-Cookie" not in response.headers
    assert response.status_code == 400, response.text
    assert response.headers["X-ClickHouse-Exception-Code"] == "36"
    assert "\n" not in response.headers["X-ClickHouse-Query-Id"]
    log = server_log(secured).read_text(errors="replace")
    assert "Set-Cookie: stolen" not in log


# -- 11. fuzzed HTTP ------------------------------------------------------------------------

ALICE_AUTH = b"Authorization: Basic " + base64.b64encode(b"alice:alice-pw")
STATUS_LINE = re.compile(rb"HTTP/1\.[01] [1-5]\d\d ")

methods = st.sampled_from(
    [b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE", b"CONNECT",
     b"get", b"P\xffST", b""]
) | st.binary(min_size=1, max_size=12)  # fmt: skip
targets = st.sampled_from(
    [b"/", b"/ping", b"/replicas_status", b"/metrics", b"/nope", b"*", b"http://h/ping", b"//",
     b"/?query=SELECT%201", b"/?database=erp&query=SHOW%20TABLES", b"/?%", b"/?=&&=",
     b"/?query=SELECT%20%27%FF%27", b"/?query_id=%0D%0AX:%201&query=SELECT%201",
     b"/?param_x=%FF&query=SELECT%20{x:String}", b"/?query=SELECT%201&session_timeout=-1",
     b"/?query=SELECT%201&client_protocol_version=%C2%B2"]
) | st.binary(max_size=40).map(lambda raw: b"/" + raw)  # fmt: skip
versions = st.sampled_from(
    [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/0.9", b"HTTP/2.0", b"HTTP/1.1.1", b"HTTP/x", b"FOO/1.1",
     b"http/1.1", b"HTTP/01.01", b""]
)  # fmt: skip
request_lines = st.builds(
    lambda method, target, version: b" ".join(part for part in (method, target, version) if part),
    methods,
    targets,
    versions,
) | st.binary(max_size=80)
header_names = st.sampled_from(
    [b"Content-Length", b"Transfer-Encoding", b"Content-Encoding", b"Content-Type",
     b"Authorization", b"X-ClickHouse-User", b"X-ClickHouse-Key", b"X-ClickHouse-Format",
     b"X-ClickHouse-Database", b"Expect", b"Connection", b"Host", b"Accept-Encoding"]
) | st.binary(min_size=1, max_size=20)  # fmt: skip
header_values = (
    st.sampled_from(
        [b"0", b"-1", b"10", b"1_0", b" 5", b"5, 6", b"chunked", b"gzip", b"zstd", b"br",
         b"lz4", b"identity", b"100-continue", b"close", b"keep-alive", b"Basic !!!",
         b"multipart/form-data; boundary=x", b"application/x-www-form-urlencoded",
         b"\xff\xfe", b"\xc3\xa9", b"alice"]
    )
    | st.binary(max_size=50)
    | st.integers(60_000, 70_000).map(lambda size: b"v" * size)  # past the 64 KiB line limit
)  # fmt: skip
bodies = st.sampled_from(
    [b"", b"SELECT 1", b"SELECT shop_id FROM dwd_sale_out", b"SELECT 1; DROP TABLE dwd_sale_out",
     b"INSERT INTO dwd_sale_out FORMAT TSV\n1", b"query=SELECT%201", b"SELECT '\xff'",
     b"--x\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\nSELECT 1\r\n--x--"]
) | st.binary(max_size=300)  # fmt: skip
FRAMINGS = ("length", "none", "short", "long", "chunked", "bad-chunked", "both")


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    line = draw(request_lines)
    headers = draw(st.lists(st.tuples(header_names, header_values), max_size=6))
    if draw(st.booleans()):
        headers += [(b"X-Many", b"1")] * 120  # past the 100 headers the server reads
    body = draw(bodies)
    framing = draw(st.sampled_from(FRAMINGS))
    lines = [line] + [name + b": " + value for name, value in headers]
    if draw(st.booleans()):
        lines.append(ALICE_AUTH)
    payload = body
    if framing in ("length", "both"):
        lines.append(b"Content-Length: %d" % len(body))
    elif framing == "short":
        lines.append(b"Content-Length: %d" % max(0, len(body) - 3))
    elif framing == "long":
        lines.append(b"Content-Length: %d" % (len(body) + 10))
    if framing in ("chunked", "bad-chunked", "both"):
        lines.append(b"Transfer-Encoding: chunked")
    if framing in ("chunked", "both"):
        payload = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    return b"\r\n".join(lines) + b"\r\n\r\n" + payload


@dataclass
class Exchange:
    answer: bytes
    closed: bool  # the server ended the connection (cleanly, or with a reset)
    seconds: float


def exchange(host: str, port: int, request: bytes, timeout: float = 10.0) -> Exchange:
    """Send the request, end our side, and read until the server closes (or the timeout)."""
    started = time.monotonic()
    answer = b""
    with socket.create_connection((host, port), timeout=timeout) as connection:
        try:
            connection.sendall(request)
            connection.shutdown(socket.SHUT_WR)
        except OSError:  # it answered and closed before reading all of it
            pass
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except TimeoutError:
            return Exchange(answer, False, time.monotonic() - started)
        except ConnectionResetError:
            pass
    return Exchange(answer, True, time.monotonic() - started)


def test_fuzzed_http_requests_get_an_answer_or_a_close_and_the_server_lives_on(
    secured: Settings,
) -> None:
    clickhouse = secured.clickhouse
    log = server_log(secured)
    logged_before = log.stat().st_size
    pid = int((secured.paths.pids_dir / "clickhouse.pid").read_text().split()[0])

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=raw_requests())
    def answered(request: bytes) -> None:
        result = exchange(clickhouse.host, clickhouse.port, request)
        assert result.closed, f"no answer and no close after {result.seconds:.1f} s"
        if result.answer:
            assert STATUS_LINE.match(result.answer), result.answer[:200]
            assert b"Traceback" not in result.answer

    answered()
    assert Path(f"/proc/{pid}").exists()
    ping = requests.get(f"http://{clickhouse.host}:{clickhouse.port}/ping", timeout=10)
    assert ping.status_code == 200 and ping.text == "Ok.\n"
    assert shops_in(post_as(secured, "alice", "SELECT shop_id FROM dwd_sale_out")) == set(
        ALICE_SHOPS
    )
    with log.open("rb") as lines:
        lines.seek(logged_before)
        assert b"Traceback" not in lines.read()
