"""The migrations on a replicated warehouse (``clickhouse.replicated``, docker-compose.yml).

No Keeper here, so nothing replicated is created: each migration statement is rewritten
(warehouse/replication.py) and the rewrite checked by what it says and by ClickHouse's
own parser (chDB's ``formatQuery``, which parses without running). ``migrate`` itself runs
on fake clients, to see every statement reach every replica in lockstep.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from clickhouse_connect import get_client

from common.settings import PROJECT_ROOT, ClickHouseSettings
from warehouse import migrate as migrate_module
from warehouse import replication
from warehouse.migrate import Migration, discover, migrate, servers
from warehouse.replication import (
    REPLICA_NAME,
    ZOOKEEPER_PATH,
    created_table,
    local_tables,
    replicated_statement,
)
from warehouse.server import WarehouseServer

MIGRATIONS = discover()
STATEMENTS = [statement for migration in MIGRATIONS for statement in migration.statements()]
LOCAL = local_tables(STATEMENTS)
KEEPER_ARGS = f"'{ZOOKEEPER_PATH}', '{REPLICA_NAME}'"
LOG_TABLES = {"alert_notifications", "ops_metrics", "ops_reconciliation"}
ENGINE = re.compile(r"\bENGINE\s*=\s*(\w+)(?:\(([^()]*)\))?")


def _engine(statement: str) -> tuple[str, str] | None:
    match = ENGINE.search(statement)
    return (match.group(1), match.group(2) or "") if match else None


@pytest.fixture(scope="module")
def parses(chdb_server: WarehouseServer) -> Iterator[Callable[[str], str]]:
    """ClickHouse's formatting of a statement (chDB's ``formatQuery`` on the contract
    suite's server: one chDB per process): raises unless it parses."""
    client = get_client(
        host="127.0.0.1", port=chdb_server.port, password=chdb_server.config.password
    )
    yield lambda statement: str(
        client.query("SELECT formatQuery({q:String})", parameters={"q": statement})
        .result_rows[0][0]
    ).strip()
    client.close()


def _created() -> dict[str, list[tuple[str, str]]]:
    """Table -> every CREATE TABLE of it with an ENGINE clause: (original, replicated)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for statement in STATEMENTS:
        name = created_table(statement)
        if name and _engine(statement):
            found.setdefault(name, []).append((statement, replicated_statement(statement, LOCAL)))
    return found


def test_not_replicated_runs_the_migrations_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    clients, _ = _fake_servers(monkeypatch)
    migrate(ClickHouseSettings(host="ch", port=8123))  # replicated=False
    assert _migration_statements(clients["ch:8123"].commands) == STATEMENTS


def test_the_serving_tables_are_the_refresh_targets_and_the_swapped_forecasts() -> None:
    targets = replication.refresh_targets(STATEMENTS)
    assert {
        "dws_inventory_current", "dws_sale_out_hourly", "dws_sku_warehouse_sales",
        "dws_sale_out_item_daily_recent", "dws_sale_out_item_daily_history",
        "dws_sku_aftersale_daily_recent", "dws_sku_aftersale_daily_history",
    } <= targets  # fmt: skip
    assert LOCAL == targets | replication.SWAPPED_BY_COPY
    assert not LOCAL & (LOG_TABLES | {"schema_migrations"})
    assert not any(name.startswith(("dwd_", "dim_")) for name in LOCAL)


def test_facts_and_dimensions_become_replicated_replacing_merge_trees() -> None:
    created = _created()
    facts = {name for name, versions in created.items()
             if any(_engine(original) == ("ReplacingMergeTree", "_version")
                    for original, _ in versions)}  # fmt: skip
    assert {name for name in created if name.startswith(("dwd_", "dim_"))} <= facts
    assert {"dwd_sale_out", "dwd_refund_item", "dim_sku", "dim_shop", "dws_inventory",
            "dwd_aftersale_received__repartitioned"} <= facts  # fmt: skip
    for name in facts:
        for original, replicated in created[name]:
            args = f"{KEEPER_ARGS}, _version"
            assert _engine(replicated) == ("ReplicatedReplacingMergeTree", args), name
            engine = f"ReplicatedReplacingMergeTree({args})"
            # only the engine changes: partitioning, order, TTL and comments as written
            assert replicated.replace(engine, "ReplacingMergeTree(_version)") == original, name


def test_log_tables_become_replicated_and_serving_tables_stay_local() -> None:
    created = _created()
    assert LOG_TABLES <= set(created)
    for name, versions in created.items():
        for original, replicated in versions:
            if name in LOCAL:
                assert replicated == original, name
                assert _engine(original) == ("MergeTree", ""), name
            elif name in LOG_TABLES:
                assert _engine(original) == ("MergeTree", ""), name
                assert _engine(replicated) == ("ReplicatedMergeTree", KEEPER_ARGS), name
            else:
                engine = _engine(replicated)
                assert engine and engine[0].startswith("Replicated"), name


def test_every_rewritten_statement_parses_and_says_what_it_should(
    parses: Callable[[str], str],
) -> None:
    for migration in MIGRATIONS:
        for statement in migration.statements():
            replicated = replicated_statement(statement, LOCAL)
            formatted = parses(replicated)
            if replicated == statement:
                continue
            assert formatted != parses(statement), (migration.name, statement[:60])
            if statement.lstrip().upper().startswith("DROP TABLE"):
                assert formatted.endswith("SYNC"), formatted
            else:
                assert "ENGINE = Replicated" in formatted, formatted
                assert f"('{ZOOKEEPER_PATH}', '{REPLICA_NAME}'" in formatted, formatted


def test_every_table_copied_with_as_is_safe() -> None:
    """0005's *_history AS *_recent copy a local engine (both refresh targets); 0010's
    *__repartitioned name their engine, so each gets its own Keeper path ({table})."""
    for statement in STATEMENTS:
        original = replication.copied_table(statement)
        if original is None:
            continue
        name = created_table(statement)
        if _engine(statement):
            assert name not in LOCAL and "{table}" in replicated_statement(statement, LOCAL)
        else:
            assert name in LOCAL and original in LOCAL, statement[:80]


def test_a_copy_of_a_replicated_table_without_an_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="ENGINE clause"):
        replicated_statement("CREATE TABLE dwd_copy AS dwd_sale_out", LOCAL)
    copy = "CREATE TABLE IF NOT EXISTS x_history AS dws_sale_out_item_daily_recent COMMENT 'x'"
    assert replicated_statement(copy, LOCAL | {"x_history"}) == copy


def test_the_rewrite_reads_engines_not_comments_and_keeps_other_statements(
    parses: Callable[[str], str],
) -> None:
    tricky = (
        "CREATE TABLE t (a Int64 COMMENT 'ENGINE = MergeTree, it''s') "
        "ENGINE = SummingMergeTree ORDER BY a COMMENT 'was ENGINE = MergeTree'"
    )
    assert replicated_statement(tricky, frozenset()) == tricky.replace(
        "ENGINE = SummingMergeTree", f"ENGINE = ReplicatedSummingMergeTree({KEEPER_ARGS})"
    )
    parses(replicated_statement(tricky, frozenset()))
    for kept in ("EXCHANGE TABLES a AND b", "INSERT INTO a SELECT * FROM b",
                 "ALTER TABLE dwd_sale_out MODIFY TTL toDate(modified) + INTERVAL 3 YEAR",
                 "DROP TABLE x SYNC", "CREATE VIEW v AS SELECT 1"):  # fmt: skip
        assert replicated_statement(kept, LOCAL) == kept


def test_the_swapped_tables_are_the_ones_the_forecast_job_swaps() -> None:
    """warehouse/forecast/job.py replaces these with CREATE TABLE <copy> AS <table> and
    EXCHANGE TABLES: a replicated one would hand its copy the same Keeper path."""
    job = (PROJECT_ROOT / "warehouse" / "forecast" / "job.py").read_text()
    assert "CREATE TABLE {staging} AS {table}" in job
    swapped = set(re.findall(r"replace_table\(\s*client,\s*\"(\w+)\"", job))
    assert swapped == set(replication.SWAPPED_BY_COPY)


# --- migrate() on fake replicas -------------------------------------------------------


class _FakeClient:
    def __init__(self, log: list[tuple[str, str]], name: str, done: set[int]) -> None:
        self.log, self.name, self.done = log, name, done
        self.commands: list[str] = []

    def command(self, statement: str) -> None:
        self.commands.append(statement)
        self.log.append((self.name, statement))

    def query(self, sql: str) -> Any:
        assert "schema_migrations" in sql
        return SimpleNamespace(result_rows=[(version,) for version in sorted(self.done)])

    def insert(self, table: str, rows: list[list[Any]], column_names: list[str]) -> None:
        assert table.endswith(".schema_migrations")
        self.done.add(rows[0][0])


def _fake_servers(
    monkeypatch: pytest.MonkeyPatch, done: dict[str, set[int]] | None = None
) -> tuple[dict[str, _FakeClient], list[tuple[str, str]]]:
    """Fake servers by host:port, and the log of (server, statement) in the order sent."""
    log: list[tuple[str, str]] = []
    clients: dict[str, _FakeClient] = {}

    def connect(settings: ClickHouseSettings, database: str | None = None) -> _FakeClient:
        assert len(settings.endpoints) == 1, "a migration is sent to one server, no failover"
        name = f"{settings.host}:{settings.port}"
        if name not in clients:
            clients[name] = _FakeClient(log, name, set((done or {}).get(name, set())))
        return clients[name]

    monkeypatch.setattr(migrate_module, "connect", connect)
    monkeypatch.setattr(migrate_module.metric_views, "apply", lambda client: 0)
    monkeypatch.setattr(migrate_module.access, "keep_row_policies", lambda *args: 0)
    return clients, log


def _migration_statements(commands: list[str]) -> list[str]:
    """What a server was sent, less the database and schema_migrations set-up."""
    return [c for c in commands
            if not c.startswith("CREATE DATABASE") and "schema_migrations" not in c]  # fmt: skip


REPLICATED = ClickHouseSettings(
    host="clickhouse", port=8123, more_hosts=["clickhouse-2:8123"], replicated=True
)
REPLICAS = ("clickhouse:8123", "clickhouse-2:8123")


def test_replicated_migrations_run_on_every_replica_statement_by_statement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clients, log = _fake_servers(monkeypatch)
    applied = migrate(REPLICATED)
    assert [m.version for m in applied] == [m.version for m in MIGRATIONS]
    assert set(clients) == set(REPLICAS)
    expected = [replicated_statement(s, LOCAL) for s in STATEMENTS]
    sent = [(name, s) for name, s in log if _migration_statements([s])]
    # each statement on the first replica, then on the second, before the next statement
    assert sent == [(name, s) for s in expected for name in REPLICAS]
    for client in clients.values():
        assert client.done == {m.version for m in MIGRATIONS}
        setup = [c for c in client.commands if "schema_migrations" in c]
        assert "ENGINE = ReplacingMergeTree ORDER BY version" in setup[0], "stays local"
    assert migrate(REPLICATED) == []


def test_a_replica_behind_gets_only_what_it_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    everything = {m.version for m in MIGRATIONS}
    clients, _ = _fake_servers(
        monkeypatch, {"clickhouse:8123": everything, "clickhouse-2:8123": everything - {11}}
    )
    applied: list[Migration] = migrate(REPLICATED)
    assert [m.version for m in applied] == [11]
    assert all("ops_reconciliation" not in c for c in clients["clickhouse:8123"].commands)
    assert any("ops_reconciliation" in c for c in clients["clickhouse-2:8123"].commands)


def test_the_servers_of_a_replicated_warehouse_are_its_endpoints() -> None:
    assert [(s.host, s.port, s.more_hosts) for s in servers(REPLICATED)] == [
        ("clickhouse", 8123, []), ("clickhouse-2", 8123, [])
    ]  # fmt: skip
    # several single-machine servers: each has its own tables, each is migrated
    single = ClickHouseSettings(host="a", more_hosts=["b:1"])
    assert [(s.host, s.port, s.more_hosts) for s in servers(single)] == [
        ("a", 18123, []), ("b", 1, [])
    ]  # fmt: skip
    one = ClickHouseSettings(host="a")
    assert servers(one) == [one]
