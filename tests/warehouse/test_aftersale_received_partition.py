"""After-sale receipts: every version of one receipt lives in one partition (migration 0010),
so a receipt modified again in a later month keeps one row, and the migration that moved
the tables keeps what every receipt reads as."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from common.settings import ClickHouseSettings
from warehouse.client import connect
from warehouse.migrate import discover

pytestmark = pytest.mark.integration

THIS_MONTH = date.today().replace(day=3)
LAST_MONTH = (THIS_MONTH - timedelta(days=31)).replace(day=27)
TABLES = ("dwd_aftersale_received", "dwd_aftersale_received_item")


def receipt(io_id: str, day: date, version: int, status: str) -> dict[str, Any]:
    at = f"{day} 10:00:00"
    return {"io_id": io_id, "as_id": f"AS-{io_id}", "shop_id": 990101, "status": status,
            "modified": at, "io_date": at, "wh_id": 2, "ts": version,
            "_version": version}  # fmt: skip


def receipt_item(io_id: str, day: date, version: int, qty: int) -> dict[str, Any]:
    at = f"{day} 10:00:00"
    return {"io_id": io_id, "ioi_id": f"{io_id}-1", "shop_id": 990101, "sku_id": "SKU-R",
            "qty": qty, "modified": at, "io_date": at, "ts": version,
            "_version": version}  # fmt: skip


def insert(client: Client, table: str, rows: list[dict[str, Any]]) -> None:
    """As the Flink sink writes: JSONEachRow lines."""
    body = "\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
    client.command(f"INSERT INTO {table} FORMAT JSONEachRow {body}")


def two_months_of_one_receipt(client: Client, io_id: str) -> None:
    """Version 1 received last month, version 2 (a status change) this month."""
    insert(client, TABLES[0], [receipt(io_id, LAST_MONTH, 1, "WaitConfirm")])
    insert(client, TABLES[0], [receipt(io_id, THIS_MONTH, 2, "Confirmed")])
    insert(client, TABLES[1], [receipt_item(io_id, LAST_MONTH, 1, 1)])
    insert(client, TABLES[1], [receipt_item(io_id, THIS_MONTH, 2, 3)])


@pytest.fixture(scope="module")
def warehouse(clickhouse_settings: ClickHouseSettings) -> Iterator[Client]:
    client = connect(clickhouse_settings)
    yield client
    client.close()


def test_a_receipt_modified_in_a_later_month_keeps_one_row(warehouse: Client) -> None:
    io_id = f"R-{uuid.uuid4().hex[:8]}"
    two_months_of_one_receipt(warehouse, io_id)
    for table in TABLES:
        warehouse.command(f"OPTIMIZE TABLE {table} FINAL")
        rows = warehouse.query(
            f"SELECT _version, _partition_id FROM {table} WHERE io_id = {{i:String}}",
            parameters={"i": io_id},
        ).result_rows
        assert [version for version, _ in rows] == [2], f"{table}: {rows}"
    status = warehouse.query(
        "SELECT status FROM dwd_aftersale_received WHERE io_id = {i:String}",
        parameters={"i": io_id},
    ).result_rows
    assert status == [("Confirmed",)]


@pytest.fixture
def scratch(clickhouse_settings: ClickHouseSettings) -> Iterator[Client]:
    name = f"migration_{uuid.uuid4().hex[:8]}"
    connect(clickhouse_settings).command(f"CREATE DATABASE {name}")
    client = connect(clickhouse_settings, database=name)
    yield client
    client.command(f"DROP DATABASE IF EXISTS {name}")
    client.close()


def apply(client: Client, version: int) -> None:
    migration = next(m for m in discover() if m.version == version)
    for statement in migration.statements():
        client.command(statement)


def snapshot(client: Client) -> dict[str, list[tuple[Any, ...]]]:
    """What readers see: the latest version of every receipt and item."""
    return {table: sorted(client.query(f"SELECT * EXCEPT _loaded_at FROM {table} FINAL"
                                       ).result_rows) for table in TABLES}  # fmt: skip


def stored_rows(client: Client) -> int:
    return int(client.query(f"SELECT count() FROM {TABLES[0]}").result_rows[0][0])


def partition_keys(client: Client) -> set[str]:
    rows = client.query(
        "SELECT partition_key FROM system.tables WHERE database = currentDatabase() "
        "AND name IN ('dwd_aftersale_received', 'dwd_aftersale_received_item')"
    ).result_rows
    return {row[0] for row in rows}


def test_moving_to_the_stable_partition_keeps_every_row_and_can_run_again(
    scratch: Client,
) -> None:
    apply(scratch, 2)  # the tables as 0002 made them: partitioned by modified's month
    assert partition_keys(scratch) == {"toYYYYMM(modified)"}
    for number in range(3):
        two_months_of_one_receipt(scratch, f"R-{number}")
    before = snapshot(scratch)
    scratch.command(f"OPTIMIZE TABLE {TABLES[0]} FINAL")
    assert stored_rows(scratch) == 6  # two versions of each, in two partitions: never merged
    apply(scratch, 10)
    assert partition_keys(scratch) == {"cityHash64(io_id) % 4"}
    assert snapshot(scratch) == before  # every receipt reads the same
    assert stored_rows(scratch) == 3  # and the superseded versions are gone
    apply(scratch, 10)  # a run stopped halfway is simply run again
    assert snapshot(scratch) == before
    tables = scratch.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND name LIKE '%repartitioned%'"
    ).result_rows
    assert tables == []
