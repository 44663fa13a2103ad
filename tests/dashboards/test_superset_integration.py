"""Superset against the chDB ClickHouse server: bootstrap, serve, provision, read chart data.

Runs from the core venv; Superset and the ClickHouse server are subprocesses in their
own process groups (stopped in teardown), each on a free loopback port with a temporary
home, so this never touches a developer's running stack.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import clickhouse_connect
import pytest
import requests
from pydantic import SecretStr

from common.settings import (
    ClickHouseSettings,
    PathsSettings,
    Settings,
    SupersetSettings,
    load_settings,
)
from dashboards import superset_service
from dashboards.assets_spec import load_assets
from dashboards.provision import chart_data, provision
from dashboards.superset_client import SupersetClient
from warehouse.migrate import migrate

pytestmark = pytest.mark.integration

DWS_INVENTORY_DDL = """
CREATE TABLE IF NOT EXISTS erp.dws_inventory (
  sku_id String, wms_co_id Int64, warehouse_name String, province String, i_id String,
  sku_name String, category String, brand String, cost_price Decimal(18,4), qty Int64,
  order_lock Int64, pick_lock Int64, virtual_qty Int64, purchase_qty Int64,
  return_qty Int64, in_qty Int64, defective_qty Int64, lock_qty Int64, min_qty Int64,
  max_qty Int64, available_qty Int64, stock_value Decimal(18,4), is_anomaly UInt8,
  anomaly_reason String, dim_status LowCardinality(String),
  modified DateTime('Asia/Shanghai'), ts UInt64, _version UInt64,
  _loaded_at DateTime64(3,'Asia/Shanghai')
) ENGINE = ReplacingMergeTree(_version) ORDER BY (sku_id, wms_co_id)
"""
COLUMNS = [
    "sku_id",
    "wms_co_id",
    "warehouse_name",
    "province",
    "sku_name",
    "category",
    "qty",
    "available_qty",
    "min_qty",
    "stock_value",
    "_version",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: object, what: str, process: subprocess.Popen[bytes], timeout: float) -> float:
    """Poll ``check()`` until true; fail early if ``process`` exits. Returns seconds waited."""
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode} before it was ready")
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what} not ready after {timeout:.0f}s")
        time.sleep(0.2)
    return time.monotonic() - started


def wait_for_chart(settings: Settings, chart: str, expected: object, timeout: float = 30) -> float:
    """Seconds until the chart's data (forced past Superset's cache) equals `expected`."""
    began = time.monotonic()
    while (data := chart_data(settings, chart)) != expected:
        assert time.monotonic() - began < timeout, f"{chart} still shows {data}"
        time.sleep(0.5)
    return time.monotonic() - began


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    try:  # workers the leader left behind
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    assert superset_service.venv_bin(load_settings(), "superset").exists(), (
        "Superset venv missing: run scripts/bootstrap.sh (requirements/superset.txt)"
    )
    run_dir = tmp_path_factory.mktemp("superset-run")
    return load_settings(
        paths=PathsSettings(run_dir=run_dir),
        superset=SupersetSettings(
            port=free_port(),
            admin_password=SecretStr("it-admin-pw"),
            secret_key=SecretStr("it-secret-key-0123456789"),
        ),
        clickhouse=ClickHouseSettings(port=free_port()),
    )


@pytest.fixture(scope="module")
def clickhouse(settings: Settings) -> Iterator[clickhouse_connect.driver.client.Client]:
    ch = settings.clickhouse
    log = open(settings.paths.run_dir / "clickhouse.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "warehouse.server",
            "--host",
            ch.host,
            "--port",
            str(ch.port),
            "--data-path",
            str(settings.paths.data_dir / "clickhouse"),
            "--database",
            ch.database,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def ping() -> bool:
        try:
            return requests.get(f"{ch.url}/ping", timeout=1).text.strip() == "Ok."
        except requests.RequestException:
            return False

    try:
        wait_for(ping, "ClickHouse server", process, timeout=60)
        # The warehouse as `erpbi up` leaves it: every screen's datasets need their tables
        # and metric views; dws_inventory is then the migrations' own (the DDL below is
        # a no-op that documents the columns this test writes).
        migrate(ch)
        client = clickhouse_connect.get_client(
            host=ch.host, port=ch.port, username=ch.user, database=ch.database, compress=False
        )
        client.command(DWS_INVENTORY_DDL)
        client.insert(
            "dws_inventory",
            [
                ["A1", 1, "杭州仓", "浙江省", "连衣裙A", "女装", 10, 10, 5, 100, 1],
                ["A1", 1, "杭州仓", "浙江省", "连衣裙A", "女装", 10, 3, 5, 100, 2],  # newer version
                ["B1", 1, "杭州仓", "浙江省", "T恤B", "男装", 0, 0, 5, 0, 1],
                ["C1", 2, "广州仓", "广东省", "卫衣C", "男装", 50, 40, 5, 800, 1],
            ],
            column_names=COLUMNS,
        )
        yield client
    finally:
        stop_group(process)
        log.close()


@pytest.fixture(scope="module")
def superset(settings: Settings) -> Iterator[dict[str, float]]:
    timings: dict[str, float] = {}
    cold = superset_service.bootstrap_metadata(settings)
    warm = superset_service.bootstrap_metadata(settings)
    assert cold.ran and not warm.ran
    timings.update(bootstrap_cold=cold.seconds, bootstrap_warm=warm.seconds)
    log = open(settings.paths.run_dir / "superset.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        superset_service.server_command(settings, workers=1),
        env=superset_service.superset_env(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        timings["startup"] = wait_for(
            lambda: superset_service.is_healthy(settings), "Superset", process, timeout=180
        )
        yield timings
    finally:
        stop_group(process)
        log.close()


def test_provision_is_idempotent_and_chart_data_follows_clickhouse(
    settings: Settings,
    clickhouse: clickhouse_connect.driver.client.Client,
    superset: dict[str, float],
) -> None:
    print(f"timings: {superset}")
    assert superset["bootstrap_warm"] < 2.0

    first = provision(settings)
    second = provision(settings)
    assert first == second

    api = SupersetClient.login(settings.superset)
    assert len(api.find("database", database_name=settings.superset.database_name)) == 1
    dashboards = api.find("dashboard", slug="inventory-overview")
    assert len(dashboards) == 1
    assert dashboards[0]["dashboard_title"] == "实时库存总览"
    board_charts = api.get("/api/v1/dashboard/inventory-overview/charts")["result"]
    overview = next(b for b in load_assets().dashboards if b.slug == "inventory-overview")
    assert {c["slice_name"] for c in board_charts} == {chart.name for chart in overview.charts}
    assert set(first.dashboard_ids) == {board.slug for board in load_assets().dashboards}
    for name in first.chart_ids:
        assert len(api.find("chart", slice_name=name)) == 1
    database = api.get(f"/api/v1/database/{first.database_id}")["result"]
    assert database["expose_in_sqllab"] is True

    # FINAL: A1 shows its newest version (3), not the sum of both versions.
    by_category = {row["类目"]: row["可用库存"] for row in chart_data(settings, "各类目可用库存")}
    assert by_category == {"女装": 3, "男装": 40}
    assert chart_data(settings, "缺货SKU数") == [{"缺货SKU数": 1}]
    detail = {row["类目"]: row for row in chart_data(settings, "类目库存明细")}
    assert detail["男装"]["SKU数"] == 2 and detail["男装"]["低于安全库存SKU数"] == 1

    # A new version in ClickHouse shows up in the chart's data (force=True) once the
    # warehouse's query cache period for dashboards has passed.
    clickhouse.insert(
        "dws_inventory",
        [["B1", 1, "杭州仓", "浙江省", "T恤B", "男装", 30, 25, 5, 300, 2]],
        column_names=COLUMNS,
    )
    waited = wait_for_chart(settings, "缺货SKU数", [{"缺货SKU数": 0}])
    assert waited <= settings.clickhouse.dashboard_cache_seconds + 5, waited
    by_category = {row["类目"]: row["可用库存"] for row in chart_data(settings, "各类目可用库存")}
    assert by_category == {"女装": 3, "男装": 65}
