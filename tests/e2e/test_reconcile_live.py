"""The T-1 reconciliation on the whole stack as `erpbi up` runs it: drift of four kinds
injected into yesterday's outbound (and a late dimension three days back) is found key by
key and repaired; a day nobody touched costs its listing pages and re-lands nothing; a
second run finds nothing; the report reaches ops_reconciliation and `erpbi backfill status`.

The drift:
- rows deleted from the warehouse (lightweight DELETE on dwd_sale_out);
- a Kafka record never delivered: a new version of a document committed in the ERP behind
  the live sync's ts cursor (a late transaction), so the sync never reads it;
- a stale version: the warehouse's newest version of a document replaced by an older one;
- a dimension arriving 3 days late: a document of three days ago landed without its shop
  (dim_status unknown_shop) while the shop is in dim_shop now, as after Flink's 2-day join
  state let the fact go.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from test_inventory_slice import INITIAL_LOAD_DEADLINE_SECONDS, poll

from backfill.cli import format_status
from backfill.days import Day
from backfill.reconcile import DayReport
from backfill.reconcile_cli import run_reconcile
from common.settings import Settings
from connectors.models import BEIJING
from erp_simulator.control import SimulatorControl

pytestmark = pytest.mark.e2e
SETTLED = {"Confirmed", "Cancelled", "Delete"}


def erp_day(erp: SimulatorControl, day: date) -> dict[str, dict[str, Any]]:
    return {str(row["io_id"]): row for row in erp.outbound()
            if str(row["modified"])[:10] == day.isoformat()}  # fmt: skip


def settled(rows: dict[str, dict[str, Any]]) -> list[str]:
    """Documents that will not change again (shipped or voided): the live traffic's
    lifecycle events move only 待出库 documents on, to a new version on another day."""
    return sorted(key for key, row in rows.items() if row["status"] in SETTLED)


def held_versions(warehouse: Client, keys: list[str]) -> dict[str, int]:
    rows = warehouse.query(
        "SELECT io_id, _version FROM dwd_sale_out FINAL WHERE io_id IN {keys:Array(String)}",
        parameters={"keys": keys},
    ).result_rows
    return {str(key): int(version) for key, version in rows}


def landed(erp: SimulatorControl, warehouse: Client, day: date) -> bool:
    rows = erp_day(erp, day)
    held = held_versions(warehouse, list(rows))
    return bool(rows) and all(held.get(k) == int(r["ts"]) for k, r in rows.items())


def dim_status(warehouse: Client, io_id: str) -> str:
    rows = warehouse.query("SELECT dim_status FROM dwd_sale_out FINAL WHERE io_id = {k:String}",
                           parameters={"k": io_id}).result_rows  # fmt: skip
    return str(rows[0][0])


def pages(report: DayReport, page_size: int) -> int:
    return math.ceil(report.erp_rows / page_size)


def test_the_nightly_reconciliation_repairs_exactly_the_drift_and_nothing_else(
    running_stack: Settings, erp: SimulatorControl, warehouse: Client
) -> None:
    settings = running_stack
    today = datetime.now(BEIJING).date()
    yesterday, untouched, late = (today - timedelta(days=n) for n in (1, 2, 3))
    for day in (yesterday, untouched, late):
        assert poll(lambda d=day: landed(erp, warehouse, d), INITIAL_LOAD_DEADLINE_SECONDS), (
            f"outbound of {day} never landed"
        )
    keys = settled(erp_day(erp, yesterday))
    deleted, undelivered, stale = keys[:2], keys[2], keys[3]

    warehouse.command("DELETE FROM dwd_sale_out WHERE io_id IN {keys:Array(String)}",
                      parameters={"keys": deleted})  # fmt: skip
    noon = datetime.combine(yesterday, datetime.min.time(), BEIJING) + timedelta(hours=12)
    offset = (noon - datetime.now(BEIJING)).total_seconds()
    touched = erp.touch("outbound", undelivered, modified_offset_seconds=offset, late_commit=True)
    assert str(touched["modified"])[:10] == yesterday.isoformat()
    newest = warehouse.query("SELECT * FROM dwd_sale_out FINAL WHERE io_id = {k:String}",
                             parameters={"k": stale})  # fmt: skip
    older = dict(zip(newest.column_names, newest.result_rows[0], strict=True))
    older.update(ts=older["ts"] - 1, _version=older["_version"] - 1)
    # Deleted first, then the older version inserted: a merge between the two steps would
    # otherwise fold the older version into the newest before the delete.
    warehouse.command("DELETE FROM dwd_sale_out WHERE io_id = {k:String}", parameters={"k": stale})
    warehouse.insert("dwd_sale_out", [list(older.values())], column_names=list(older))
    unwidened = settled(erp_day(erp, late))[0]
    warehouse.command(
        "INSERT INTO dwd_sale_out SELECT * REPLACE ('unknown_shop' AS dim_status, '' AS platform)"
        " FROM dwd_sale_out FINAL WHERE io_id = {k:String}", parameters={"k": unwidened},
    )  # fmt: skip
    assert dim_status(warehouse, unwidened) == "unknown_shop"

    reports = run_reconcile(settings, ["outbound"], [Day(untouched), Day(yesterday)],
                            trigger="nightly")  # fmt: skip
    first, second = reports
    size = min(settings.jushuitan.page_size, 50)
    assert (first.missing, first.stale, first.repaired, first.rewidened) == (0, 0, 0, 0)
    assert first.calls == pages(first, size)  # its listing only: nothing pulled again
    assert (second.missing, second.stale) == (2, 2), second
    assert sorted(second.sample_keys) == sorted([*deleted, undelivered, stale])
    assert (second.repaired, second.rewidened, second.left_over) == (4, 1, 0), second
    assert second.calls == pages(second, size) + 1  # + one lookup by id for the late shop
    assert second.shops_differ == 0 and second.erp_amount == second.warehouse_amount
    assert first.serving_shops_differ == second.serving_shops_differ == 0  # DWS = DWD per shop
    assert held_versions(warehouse, [*deleted, undelivered, stale]) == {
        key: int(row["ts"]) for key, row in erp_day(erp, yesterday).items()
        if key in {*deleted, undelivered, stale}
    }  # fmt: skip
    assert dim_status(warehouse, unwidened) == "ok"

    again = run_reconcile(settings, ["outbound"], [Day(untouched), Day(yesterday)])
    assert [(r.missing, r.stale, r.repaired, r.rewidened, r.left_over) for r in again] == [
        (0, 0, 0, 0, 0), (0, 0, 0, 0, 0)]  # fmt: skip
    assert [r.calls for r in again] == [pages(r, size) for r in again]

    status = format_status(settings)
    assert "对账报告" in status and f"outbound            {yesterday}" in status
    assert "仍有差异" not in status
