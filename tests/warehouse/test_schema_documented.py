"""The migrated warehouse documents itself: every table, view and column has a comment."""

from __future__ import annotations

from common.settings import ClickHouseSettings
from warehouse.client import connect
from warehouse.migrate import discover, migrate


def test_every_table_view_and_column_has_a_comment(clickhouse_settings: ClickHouseSettings) -> None:
    client = connect(clickhouse_settings)
    tables = client.query(
        "SELECT name, engine, comment FROM system.tables WHERE database = currentDatabase() "
        "AND engine != 'MaterializedView' AND NOT startsWith(name, '.')"
    ).result_rows
    assert {"dwd_sale_out", "dws_sale_out_hourly", "metric_outbound_daily", "shop_access"} <= {
        name for name, _, _ in tables
    }
    assert [name for name, _, comment in tables if not comment] == []
    undocumented = client.query(
        "SELECT c.table, c.name FROM system.columns AS c INNER JOIN system.tables AS t "
        "ON t.database = c.database AND t.name = c.table WHERE c.database = currentDatabase() "
        "AND t.engine LIKE '%MergeTree' AND c.comment = ''"
    ).result_rows
    assert undocumented == []
    client.close()


def test_migrations_are_versioned_and_idempotent(clickhouse_settings: ClickHouseSettings) -> None:
    versions = [migration.version for migration in discover()]
    assert versions == sorted(versions) == list(range(1, len(versions) + 1))
    assert migrate(clickhouse_settings) == []  # already applied at start: nothing to do twice
    client = connect(clickhouse_settings)
    recorded = client.query("SELECT version FROM schema_migrations FINAL ORDER BY version")
    assert [row[0] for row in recorded.result_rows] == versions
    client.close()
