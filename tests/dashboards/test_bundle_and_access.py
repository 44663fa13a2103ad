"""Unit tests of the bundle files and the shop-owner access rules (no services)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from common.settings import load_settings
from dashboards.assets_spec import ENGINEER_SCREENS, Assets, load_assets
from dashboards.bundle import Bundle, _for_this_superset, _markdown_ids_to_names, load_bundle
from dashboards.shop_owner_access import has_shop, owner_readable, rls_clause

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def assets() -> Assets:
    return load_assets()


def test_every_screen_chart_reads_a_dataset_a_shop_owner_may_read(assets: Assets) -> None:
    """Otherwise the owner's screen shows an access error in that chart."""
    closed = {
        f"{board.slug}: {chart.name} ({chart.dataset})"
        for board in assets.dashboards
        if board.slug not in ENGINEER_SCREENS
        for chart in board.charts
        if not owner_readable(chart.dataset, assets.datasets[chart.dataset])
    }
    assert not closed


def test_the_engineer_screens_are_closed_to_shop_owners(assets: Assets) -> None:
    """No chart of them reads a dataset an owner may read, so Superset does not even list
    them for an owner (a Gamma user sees dashboards whose data they may read)."""
    boards = [board for board in assets.dashboards if board.slug in ENGINEER_SCREENS]
    assert {board.slug for board in boards} == ENGINEER_SCREENS
    readable = {
        f"{board.slug}: {chart.name} ({chart.dataset})"
        for board in boards
        for chart in board.charts
        if owner_readable(chart.dataset, assets.datasets[chart.dataset])
    }
    assert not readable


def test_owners_read_no_merchant_wide_totals(assets: Assets) -> None:
    """A dataset without shop_id is readable only if it holds no shop's data."""
    readable_without_shop = sorted(
        name for name, spec in assets.datasets.items()
        if owner_readable(name, spec) and not has_shop(spec)
    )  # fmt: skip
    assert readable_without_shop == [
        "dws_inventory_latest", "inventory_province", "metric_inventory_overview",
        "metric_inventory_sku", "metric_inventory_warehouse", "replenishment_plan",
        "serving_freshness",
    ]  # fmt: skip
    for closed in ("metric_outbound_trend", "metric_outbound_sku_daily",
                   "metric_aftersale_sku_daily", "metric_outbound_forecast"):  # fmt: skip
        assert not owner_readable(closed, assets.datasets[closed])


def test_the_rls_clause_is_rendered_per_viewer_from_the_sheet() -> None:
    assert rls_clause() == "shop_id IN ({{ viewer_shops() }})"


def bundle_files() -> dict[str, dict[str, object]]:
    return {
        "metadata.yaml": {"version": "1.0.0", "type": "assets"},
        "databases/ERP_ClickHouse.yaml": {"uuid": "db-1", "database_name": "old",
                                          "sqlalchemy_uri": "clickhousedb://u:XXXXXXXXXX@h:1/erp"},
        "datasets/ERP_ClickHouse/t.yaml": {"uuid": "ds-1", "database_uuid": "db-1",
                                           "table_name": "t"},
        "charts/c.yaml": {"uuid": "ch-1", "dataset_uuid": "ds-1", "slice_name": "补货计划"},
        "dashboards/d.yaml": {"uuid": "da-1", "slug": "s", "position": {
            "CHART-1": {"type": "CHART", "meta": {"uuid": "ch-1", "chartId": 7}},
            "MARKDOWN-1": {"type": "MARKDOWN",
                           "meta": {"code": "[下载](/api/v1/chart/7/data/?format=csv)"}},
        }},
    }  # fmt: skip


def test_export_names_the_charts_a_link_points_at() -> None:
    dashboard = bundle_files()["dashboards/d.yaml"]
    _markdown_ids_to_names(dashboard, {7: "补货计划"})
    code = dashboard["position"]["MARKDOWN-1"]["meta"]["code"]  # type: ignore[index]
    assert code == "[下载](/api/v1/chart/{chart_id:补货计划}/data/?format=csv)"


def test_a_bundle_resolves_or_says_what_is_missing() -> None:
    files = bundle_files()
    _markdown_ids_to_names(files["dashboards/d.yaml"], {7: "补货计划"})
    assert Bundle(files).unresolved() == []
    broken = {**files, "charts/c.yaml": {**files["charts/c.yaml"], "dataset_uuid": "gone"}}
    assert Bundle(broken).unresolved() == ["charts/c.yaml: dataset gone"]
    by_name = {**files["charts/c.yaml"], "params": {"metrics": ["出库金额", {"label": "x"}]}}
    assert Bundle({**files, "charts/c.yaml": by_name}).unresolved() == [
        "charts/c.yaml: metric '出库金额' is not a saved metric of its dataset"
    ]


def test_import_points_the_bundle_at_this_machines_connection() -> None:
    settings = load_settings()
    local = _for_this_superset(Bundle(bundle_files()), {"uuid": "db-here",
                               "database_name": "ERP ClickHouse"}, settings)  # fmt: skip
    database = local.files["databases/ERP_ClickHouse.yaml"]
    assert database["uuid"] == "db-here"
    assert database["sqlalchemy_uri"] == settings.clickhouse.sqlalchemy_uri(masked=True)
    assert local.files["datasets/ERP_ClickHouse/t.yaml"]["database_uuid"] == "db-here"


def test_a_folder_without_an_export_has_no_bundle(tmp_path: Path) -> None:
    assert load_bundle(tmp_path) is None
    for path, body in bundle_files().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(yaml.safe_dump(body, allow_unicode=True), "utf-8")
    bundle = load_bundle(tmp_path)
    assert bundle is not None and bundle.dashboard_slugs == {"s"}
    assert bundle.dataset_names == {"t"} and bundle.chart_names == {"补货计划"}
