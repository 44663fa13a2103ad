"""``warehouse.schema`` reads the migrations the way ClickHouse applies them.

The Flink job's validation is derived from these column types, so they must be the types a
migrated server really has: checked against ``system.columns``, for every table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from common.settings import ClickHouseSettings
from warehouse.client import connect
from warehouse.schema import parse_type, warehouse_columns


@pytest.mark.integration
def test_every_table_has_the_columns_and_types_a_migrated_server_has(
    clickhouse_settings: ClickHouseSettings,
) -> None:
    client = connect(clickhouse_settings)
    rows = client.query(
        "SELECT c.table, c.name, c.type, c.default_kind FROM system.columns AS c "
        "INNER JOIN system.tables AS t ON t.database = c.database AND t.name = c.table "
        "WHERE c.database = currentDatabase() AND t.engine LIKE '%MergeTree' "
        "AND c.table != 'schema_migrations' ORDER BY c.table, c.position"
    ).result_rows
    client.close()
    server: dict[str, dict[str, tuple[str, bool]]] = {}
    for table, name, column_type, default_kind in rows:
        server.setdefault(table, {})[name] = (column_type, bool(default_kind))
    parsed = {
        table: {name: (kind.text.replace(", ", ",").replace(",", ", "), kind.has_default)
                for name, kind in columns.items()}
        for table, columns in warehouse_columns().items()
    }  # fmt: skip
    assert parsed == server


def test_types_say_what_they_hold() -> None:
    created = parse_type("Nullable(DateTime('Asia/Shanghai'))")
    assert (created.family, created.nullable) == ("DateTime", True)
    assert created.datetime_range_text() == ("1970-01-01 08:00:00", "2106-02-07 14:28:15")
    assert parse_type("UInt64").integer_range() == (0, 2**64 - 1)
    assert parse_type("LowCardinality(String)").family == "String"
    assert parse_type("Int8").integer_range() == (-128, 127)
    assert str(parse_type("Decimal(9, 6)").decimal_limit()) == "1000"
    assert parse_type("DateTime64(3, 'Asia/Shanghai')").family == "DateTime64"


def test_later_migrations_alter_earlier_tables(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text(
        "CREATE TABLE IF NOT EXISTS t\n(\n    a UInt8 COMMENT 'x, y',\n"
        "    b String DEFAULT 'q',\n    c Decimal(18, 4)\n)\nENGINE = MergeTree ORDER BY a;\n"
    )
    (tmp_path / "0002_b.sql").write_text(
        "ALTER TABLE t ADD COLUMN IF NOT EXISTS d Nullable(Int32) AFTER a, DROP COLUMN b;\n"
        "ALTER TABLE t MODIFY COLUMN c Decimal(38, 4), MODIFY COLUMN a COMMENT 'only a comment';\n"
        "CREATE TABLE u AS t;\n"
    )
    tables = warehouse_columns(tmp_path)
    assert {name: kind.text for name, kind in tables["t"].items()} == {
        "a": "UInt8", "c": "Decimal(38, 4)", "d": "Nullable(Int32)"}  # fmt: skip
    assert tables["u"] == tables["t"]
