"""Superset against the chDB ClickHouse server: bootstrap, serve, provision, read chart data.

Runs from the core venv; Superset and the ClickHouse server are subprocesses in their
own process groups (stopped in teardown), each on a free loopback port with a temporary
home, so this never touches a developer's running stack.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
from dashboards.bundle import export_bundle
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


@contextmanager
def serving_superset(settings: Settings) -> Iterator[float]:
    """A Superset of these settings (metadata bootstrapped before), until the block ends;
    yields the seconds it took to become healthy."""
    log = open(settings.paths.run_dir / "superset.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        superset_service.server_command(settings, workers=1),
        env=superset_service.superset_env(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield wait_for(
            lambda: superset_service.is_healthy(settings), "Superset", process, timeout=180
        )
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
    with serving_superset(settings) as startup:
        timings["startup"] = startup
        yield timings


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


VOLATILE_PARAMS = ("datasource", "slice_id", "dashboards", "url_params")


def screens_of(client: SupersetClient) -> dict[str, Any]:
    """What a viewer gets, per screen: title, css, charts (name, type, description and
    form data without ids) and the layout's shape with charts by name."""
    screens: dict[str, Any] = {}
    for board in load_assets().dashboards:
        dashboard = client.get(f"/api/v1/dashboard/{board.slug}")["result"]
        charts = client.get(f"/api/v1/dashboard/{board.slug}/charts")["result"]
        ids = {int(chart["id"]): chart["slice_name"] for chart in charts}
        position = json.loads(dashboard["position_json"])
        layout = sorted(
            (node["type"], ids.get(node.get("meta", {}).get("chartId"), ""),
             node.get("meta", {}).get("width"), node.get("meta", {}).get("height"))
            for node in position.values() if isinstance(node, dict) and "type" in node
        )  # fmt: skip
        screens[board.slug] = {
            "title": dashboard["dashboard_title"],
            "css": dashboard["css"],
            "layout": layout,
            "charts": sorted(
                (chart["slice_name"], chart["form_data"]["viz_type"],
                 json.dumps({k: v for k, v in chart["form_data"].items()
                             if k not in VOLATILE_PARAMS}, sort_keys=True))
                for chart in charts
            ),
        }  # fmt: skip
    return screens


def param_differences(mine: str, theirs: str) -> dict[str, tuple[Any, Any]]:
    a, b = json.loads(mine), json.loads(theirs)
    return {key: (a.get(key), b.get(key)) for key in set(a) | set(b) if a.get(key) != b.get(key)}


def csv_link_chart(client: SupersetClient) -> str:
    """The chart the screen-6 download link points at, by name."""
    position = client.get("/api/v1/dashboard/inventory-alert")["result"]["position_json"]
    (chart_id,) = re.findall(r"/api/v1/chart/(\d+)/data/", position)
    return str(client.get(f"/api/v1/chart/{chart_id}")["result"]["slice_name"])


def test_export_then_provision_on_a_fresh_superset_gives_the_same_screens(
    settings: Settings,
    clickhouse: clickhouse_connect.driver.client.Client,
    superset: dict[str, float],
    tmp_path: Path,
) -> None:
    provision(settings)
    client = SupersetClient.login(settings.superset)
    # an edit made in Superset's UI: a chart's description and a screen's CSS
    chart_id = client.find("chart", slice_name="缺货SKU数")[0]["id"]
    client.put(f"/api/v1/chart/{chart_id}", {"description": "界面里改过的说明"})
    dashboard_id = client.get("/api/v1/dashboard/finance")["result"]["id"]
    client.put(f"/api/v1/dashboard/{dashboard_id}", {"css": ".dashboard { outline: 0; }"})
    folder = tmp_path / "bundle"
    bundle = export_bundle(client, folder)
    assert not bundle.unresolved()
    assert bundle.dashboard_slugs == {board.slug for board in load_assets().dashboards}
    exported = "\n".join(p.read_text("utf-8") for p in folder.rglob("*.yaml"))
    assert "{chart_id:补货计划}" in exported  # ids of this Superset stay out of the repo
    secret = settings.clickhouse.password.get_secret_value()
    assert not secret or secret not in exported
    before = screens_of(client)

    fresh = settings.model_copy(update={
        "paths": PathsSettings(run_dir=tmp_path / "fresh-run"),
        "superset": settings.superset.model_copy(update={"port": free_port()}),
    })  # fmt: skip
    (tmp_path / "fresh-run").mkdir()
    superset_service.bootstrap_metadata(fresh)
    with serving_superset(fresh):
        first = provision(fresh, bundle_dir=folder)
        second = provision(fresh, bundle_dir=folder)
        assert first.chart_ids == second.chart_ids  # imported again: nothing duplicated
        other = SupersetClient.login(fresh.superset)
        for name in first.chart_ids:
            assert len(other.find("chart", slice_name=name)) == 1, name
        after = screens_of(other)
        differences = [
            f"{slug} {key}: {before[slug][key]} != {after[slug][key]}"
            for slug in before for key in ("title", "css", "layout")
            if before[slug][key] != after[slug][key]
        ] + [
            f"{slug} {mine[0]}: {param_differences(mine[2], theirs[2])}"
            for slug in before
            for mine, theirs in zip(before[slug]["charts"], after[slug]["charts"], strict=True)
            if mine != theirs
        ]  # fmt: skip
        assert not differences, "\n".join(differences)[:3000]
        edited = other.find("chart", slice_name="缺货SKU数")[0]
        description = other.get(f"/api/v1/chart/{edited['id']}")["result"]["description"]
        assert description == "界面里改过的说明"
        assert csv_link_chart(other) == "补货计划"
        assert chart_data(fresh, "缺货SKU数") == chart_data(settings, "缺货SKU数")
