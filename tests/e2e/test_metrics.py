"""The metric catalogue against an independent Python computation, through the whole stack.

Scenario: the e2e stack's ERP (fixed seed, nine days of orders with their after-sales,
returns received and a backlog still waiting to ship, 1,000 SKUs in 2 warehouses) plus a
shop sheet giving every shop an owner and a platform fee rate. Once the warehouse holds the
ERP's latest version of every record, the serving views are refreshed and every metric
view is compared, row by row, with
``metric_reference`` computed from the simulator's own records: counts and sums exactly,
rates to 1e-9 relative.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from metric_reference import ErpSnapshot, Rows, expected_views
from test_inventory_slice import poll

from common.settings import PROJECT_ROOT, Settings
from erp_simulator.control import SimulatorControl
from warehouse import serving
from warehouse.forecast import job as forecast_job
from warehouse.metrics.catalogue import METRICS, metric_views
from warehouse.metrics.views import BUSINESS_TODAY

OWNERS = ("alice", "bob", "carol")
# Three days of documents through the quota-bound connectors, then the shop sheet's
# re-widening: about 7 minutes from a cold stack on 2 cores.
LANDING_DEADLINE_SECONDS = 720.0
TEMPORAL_TYPES = ("Date", "DateTime")


def shop_sheet(erp: SimulatorControl) -> dict[int, dict[str, Any]]:
    """Owners in turn, fee rates 0.020000-0.0650000: every shop differs from its neighbour."""
    return {
        int(shop["shop_id"]): {"owner": OWNERS[n % len(OWNERS)], "region": "华东",
                               "platform_fee_rate": f"{0.02 + 0.005 * n:.6f}"}
        for n, shop in enumerate(sorted(erp.shops(), key=lambda row: int(row["shop_id"])))
    }  # fmt: skip


def load_sheet(settings: Settings, sheet: dict[int, dict[str, Any]], folder: Path) -> None:
    path = folder / "shops.csv"
    lines = ["shop_id,owner,region,platform_fee_rate"]
    lines += [f"{shop_id},{row['owner']},{row['region']},{row['platform_fee_rate']}"
              for shop_id, row in sheet.items()]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "erpbi", "dims", "load", str(path)],
        env=settings.environment, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def versions(warehouse: Client, sql: str) -> set[tuple[Any, ...]]:
    return {tuple(row) for row in warehouse.query(sql).result_rows}


def erp_facts(erp: SimulatorControl) -> dict[str, list[dict[str, Any]]]:
    """The ERP's fact records right now (the simulator keeps moving statuses on)."""
    return {"outbound": erp.outbound(), "refunds": erp.refunds(), "received": erp.received(),
            "inventory": erp.inventory()}  # fmt: skip


def fact_versions(facts: dict[str, list[dict[str, Any]]]) -> dict[str, set[tuple[Any, ...]]]:
    """Key + version of every fact, by the warehouse query that must return the same set."""
    return {
        "SELECT io_id, ts FROM dwd_sale_out FINAL":
            {(str(r["io_id"]), int(r["ts"])) for r in facts["outbound"]},
        "SELECT as_id, ts FROM dwd_refund FINAL":
            {(str(r["as_id"]), int(r["ts"])) for r in facts["refunds"]},
        "SELECT io_id, ts FROM dwd_aftersale_received FINAL":
            {(str(r["io_id"]), int(r["ts"])) for r in facts["received"]},
        "SELECT sku_id, wms_co_id, ts FROM dws_inventory FINAL":
            {(str(r["sku_id"]), int(r["wms_co_id"]), int(r["ts"])) for r in facts["inventory"]},
    }  # fmt: skip


def warehouse_caught_up(
    facts: dict[str, list[dict[str, Any]]], warehouse: Client, owners: int
) -> bool:
    """Every record's latest version in ``facts`` landed, widened with its shop's owner."""
    if any(versions(warehouse, sql) != rows for sql, rows in fact_versions(facts).items()):
        return False
    unwidened = warehouse.query(
        "SELECT (SELECT count() FROM dwd_sale_out FINAL WHERE shop_owner = '') + "
        "(SELECT count() FROM dwd_sale_out_item FINAL WHERE shop_owner = '' OR dim_gaps != '') + "
        "(SELECT count() FROM dwd_refund FINAL WHERE shop_owner = '') + "
        "(SELECT count() FROM dws_inventory FINAL WHERE dim_status != 'ok')"
    ).result_rows[0][0]
    shops = warehouse.query("SELECT count() FROM dim_shop FINAL WHERE shop_owner != ''")
    return unwidened == 0 and shops.result_rows[0][0] == owners


def settled_snapshot(
    erp: SimulatorControl, warehouse: Client, owners: int
) -> dict[str, list[dict[str, Any]]] | None:
    """ERP facts that the warehouse's serving tables hold exactly, or None if not yet.

    The serving tables are refreshed, then their scheduled refreshes held, and no fact in
    the ERP may have changed meanwhile: the comparison is against one consistent state.
    """
    facts = erp_facts(erp)
    if not warehouse_caught_up(facts, warehouse, owners):
        return None
    serving.refresh_now(warehouse)
    for view in serving.refreshable_views(warehouse):
        warehouse.command(f"SYSTEM STOP VIEW {view}")
    forecast_job.run_once(warehouse)  # from the held serving tables, as the forecaster does
    if fact_versions(erp_facts(erp)) != fact_versions(facts):
        for view in serving.refreshable_views(warehouse):
            warehouse.command(f"SYSTEM START VIEW {view}")
        return None
    return facts


def view_rows(warehouse: Client, view: str) -> tuple[list[dict[str, Any]], datetime]:
    """Rows of a metric view with Date/DateTime grain as text, and the query's now()."""
    columns = warehouse.query(f"DESCRIBE TABLE {view}").result_rows
    select = [f"toString({name}) AS {name}" if kind.startswith(TEMPORAL_TYPES) else name
              for name, kind, *_ in columns]  # fmt: skip
    result = warehouse.query(
        f"SELECT {', '.join(select)}, toString(now(), 'Asia/Shanghai') AS queried_at FROM {view}"
    )
    rows = list(result.named_results())
    now = rows[0]["queried_at"] if rows else "2000-01-01 00:00:00"
    for row in rows:
        row.pop("queried_at")
    return rows, datetime.strptime(now, "%Y-%m-%d %H:%M:%S")


def same_value(actual: Any, expected: Any) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    if isinstance(expected, float) or isinstance(actual, float):
        return math.isclose(float(actual), float(expected), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(expected, Decimal) or isinstance(actual, Decimal):
        return Decimal(str(actual)) == Decimal(str(expected))
    return bool(actual == expected)


def differences(view: str, grain: tuple[str, ...], actual_rows: list[dict[str, Any]],
                expected: Rows) -> list[str]:  # fmt: skip
    actual = {tuple(row[column] for column in grain): row for row in actual_rows}
    problems = []
    if missing := expected.keys() - actual.keys():
        problems.append(f"{view}: {len(missing)} expected rows missing, e.g. {sorted(missing)[:3]}")
    if extra := actual.keys() - expected.keys():
        problems.append(f"{view}: {len(extra)} unexpected rows, e.g. {sorted(extra)[:3]}")
    for key in sorted(expected.keys() & actual.keys()):
        for metric, value in expected[key].items():
            if not same_value(actual[key][metric], value):
                problems.append(f"{view} {key} {metric}: warehouse {actual[key][metric]!r}, "
                                f"expected {value!r}")  # fmt: skip
    return problems


@pytest.fixture(scope="module")
def landed_scenario(
    running_stack: Settings, erp: SimulatorControl, warehouse: Client,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[int, dict[str, Any]], dict[str, list[dict[str, Any]]]]]:  # fmt: skip
    sheet = shop_sheet(erp)
    load_sheet(running_stack, sheet, tmp_path_factory.mktemp("sheet"))
    facts = poll(lambda: settled_snapshot(erp, warehouse, len(sheet)),
                 LANDING_DEADLINE_SECONDS, interval=2.0)  # fmt: skip
    assert facts, "the warehouse never held the ERP's latest version of every record, widened"
    yield sheet, facts
    for view in serving.refreshable_views(warehouse):
        warehouse.command(f"SYSTEM START VIEW {view}")


def test_every_metric_equals_an_independent_computation_from_erp_records(
    landed_scenario: tuple[dict[int, dict[str, Any]], dict[str, list[dict[str, Any]]]],
    erp: SimulatorControl, warehouse: Client,
) -> None:  # fmt: skip
    sheet, facts = landed_scenario
    today: date = warehouse.query(f"SELECT {BUSINESS_TODAY}").result_rows[0][0]
    snapshot = ErpSnapshot(
        inventory=facts["inventory"], skus=erp.skus(), shops=erp.shops(),
        warehouses=erp.warehouses(), outbound=facts["outbound"], refunds=facts["refunds"],
        received=facts["received"], sheet=sheet, today=today,
    )  # fmt: skip
    problems: list[str] = []
    compared = set()
    for view in metric_views():
        rows, now = view_rows(warehouse, view.name)
        expected = expected_views(snapshot, now)[view.name]
        assert expected, f"the scenario gives {view.name} no rows: nothing would be compared"
        problems += differences(view.name, view.grain_columns, rows, expected)
        compared |= {metric for row in expected.values() for metric in row}
    assert compared == {metric.name for metric in METRICS}
    assert not problems, "\n".join(problems[:40])
