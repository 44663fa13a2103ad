"""Unit tests of the dashboards stage: assets, payload builders, env and commands (no services)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from common.settings import PROJECT_ROOT, PathsSettings, SupersetSettings, load_settings
from dashboards import superset_service
from dashboards.assets_spec import Assets, load_assets
from dashboards.superset_client import rison
from dashboards.superset_payloads import chart_form_data, chart_query_context, dashboard_layout

pytestmark = pytest.mark.unit

# The eight big screens of docs/mission.md, by slug.
SCREENS = {
    "inventory-overview": "实时库存总览", "outbound-trend": "销售出库趋势",
    "aftersale-monitor": "售后监控", "shop-ranking": "店铺排行榜", "finance": "财务应收",
    "inventory-alert": "商品库存预警", "promotion-live": "大促实时战报", "ops-monitor": "异常监控",
}  # fmt: skip


@pytest.fixture(scope="module")
def assets() -> Assets:
    return load_assets()


def test_assets_define_inventory_overview_with_final(assets: Assets) -> None:
    board = next(b for b in assets.dashboards if b.slug == "inventory-overview")
    assert board.title == "实时库存总览"
    names = {chart.name for chart in board.charts}
    assert {"缺货SKU数", "各类目可用库存", "类目库存明细"} <= names
    dataset = assets.datasets["dws_inventory_latest"]
    assert "FROM erp.dws_inventory FINAL" in dataset.sql
    assert dataset.columns["category"] == "类目"


def test_every_chart_fits_the_twelve_column_grid(assets: Assets) -> None:
    for board in assets.dashboards:
        items = [*board.charts, *board.markdown]
        for row in {item.row for item in items}:
            assert sum(item.width for item in items if item.row == row) <= 12, board.slug


def test_chart_payloads_use_zh_labels_and_dataset(assets: Assets) -> None:
    for chart in (chart for board in assets.dashboards for chart in board.charts):
        dataset = assets.datasets[chart.dataset]
        form = chart_form_data(chart, dataset, dataset_id=7)
        context = chart_query_context(chart, form, dataset_id=7)
        assert form["datasource"] == "7__table"
        assert context["datasource"] == {"id": 7, "type": "table"}
        labels = [m["label"] for m in context["queries"][0]["metrics"]]
        expected = [dataset.metrics[name].label for name in chart.metric_names]
        if chart.in_wan:  # amounts in 万元: the label says so, the SQL divides
            expected = [f"{label}(万元)" for label in expected]
            assert all(m["sqlExpression"].endswith("/ 10000")
                       for m in context["queries"][0]["metrics"])  # fmt: skip
        assert labels == expected, chart.name
        json.dumps(context)  # must be serialisable as sent


def test_every_screen_says_how_fresh_its_data_is(assets: Assets) -> None:
    """数据截至: the newest ERP change landed (serving_freshness); on 异常监控 the newest
    time the monitor recorded (ops_metrics), so a stopped monitor shows an old time."""
    for board in assets.dashboards:
        fresh = [c for c in board.charts if c.timestamp]
        assert len(fresh) == 1, board.slug
        expected = "ops_metrics" if board.slug == "ops-monitor" else "serving_freshness"
        assert fresh[0].dataset == expected, board.slug
        form = chart_form_data(fresh[0], assets.datasets[expected], 1)
        assert form["force_timestamp_formatting"] is True
        assert form["time_format"] == "%m-%d %H:%M:%S"


def test_conditional_formatting_names_the_metric_as_the_table_shows_it(assets: Assets) -> None:
    board = next(b for b in assets.dashboards if b.slug == "aftersale-monitor")
    chart = next(c for c in board.charts if c.name == "售后率TOP10 SKU")
    form = chart_form_data(chart, assets.datasets[chart.dataset], 3)
    assert form["conditional_formatting"] == [
        {
            "colorScheme": "colorError",
            "operator": ">",
            "targetValue": 0.05,
            "column": "SKU售后率",
            "useGradient": False,
        }
    ]
    assert form["column_config"]["SKU售后率"] == {"d3NumberFormat": ".1%"}
    having = [f for f in form["adhoc_filters"] if f["clause"] == "HAVING"]
    assert having[0]["sqlExpression"] == "sum(out_documents) >= 10"
    context = chart_query_context(chart, form, 3)
    assert context["queries"][0]["extras"]["having"] == "(sum(out_documents) >= 10)"


def test_replenishment_plan_is_a_rows_table_with_a_download_link(assets: Assets) -> None:
    board = next(b for b in assets.dashboards if b.slug == "inventory-alert")
    chart = next(c for c in board.charts if c.name == "补货计划")
    form = chart_form_data(chart, assets.datasets[chart.dataset], 5)
    assert form["query_mode"] == "raw" and form["all_columns"][:2] == ["商品编码", "商品名称"]
    context = chart_query_context(chart, form, 5)
    assert context["queries"][0]["orderby"] == [["可售天数", True], ["可用数", True]]
    chart_ids = {c.name: n for n, c in enumerate(board.charts, start=40)}
    layout = dashboard_layout(board, chart_ids)
    markdown = [v for v in layout.values() if isinstance(v, dict) and v["type"] == "MARKDOWN"]
    assert f"/api/v1/chart/{chart_ids['补货计划']}/data/?format=csv" in markdown[0]["meta"]["code"]
    assert markdown[0]["id"] in layout["ROW-1"]["children"]


def test_layout_places_every_chart_once(assets: Assets) -> None:
    board = assets.dashboards[0]
    chart_ids = {chart.name: index + 1 for index, chart in enumerate(board.charts)}
    layout = dashboard_layout(board, chart_ids)
    charts = [v for v in layout.values() if isinstance(v, dict) and v.get("type") == "CHART"]
    assert sorted(c["meta"]["chartId"] for c in charts) == sorted(chart_ids.values())
    for chart in charts:
        row = layout[chart["parents"][-1]]
        assert chart["id"] in row["children"]


def test_unknown_metric_reference_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "datasets").mkdir()
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "datasets" / "d.yaml").write_text(
        "table_name: d\nschema: erp\nsql: SELECT 1\n"
        "metrics:\n  m: {label: 甲, expression: count()}\n"
    )
    (tmp_path / "dashboards" / "b.yaml").write_text(
        "title: t\nslug: s\ncharts:\n"
        "  - {name: c, viz_type: big_number_total, dataset: d, metric: nope,"
        " row: 1, width: 3, height: 30}\n"
    )
    with pytest.raises(ValueError, match="unknown metrics"):
        load_assets(tmp_path)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (
            {"filters": [{"col": "slice_name", "opr": "eq", "value": "缺货SKU数"}]},
            "(filters:!((col:slice_name,opr:eq,value:'缺货SKU数')))",
        ),
        ("it's!", "'it!'s!!'"),
        ([True, False, None, 3], "!(!t,!f,!n,3)"),
        ("a b", "'a b'"),
    ],
)
def test_rison(value: object, encoded: str) -> None:
    assert rison(value) == encoded


def test_env_and_server_command_stay_on_loopback(tmp_path: Path) -> None:
    settings = load_settings(
        paths=PathsSettings(run_dir=tmp_path), superset=SupersetSettings(port=18999)
    )
    env = superset_service.superset_env(settings)
    assert env["SUPERSET_CONFIG_PATH"].endswith("dashboards/superset_config.py")
    assert env["SUPERSET_HOME"] == str(tmp_path / "data" / "superset")
    assert env["SUPERSET_SECRET_KEY"] == settings.superset.secret_key.get_secret_value()
    assert env["PATH"].startswith(str(superset_service.venv_dir(settings) / "bin"))
    command = superset_service.server_command(settings)
    if "--bind" in command:  # gunicorn
        assert command[command.index("--bind") + 1] == "127.0.0.1:18999"
    else:  # superset run
        assert command[command.index("-h") + 1] == "127.0.0.1"
    assert not superset_service.is_healthy(settings, timeout_seconds=0.5)


def test_every_metric_view_is_a_dataset_with_the_catalogue_metrics(assets: Assets) -> None:
    """An operator drags catalogue metrics by their zh-CN names onto a chart: every metric
    view is a physical dataset (RLS by shop_id applies to it directly) whose saved metrics
    are the catalogue's, each description naming its catalogue metric."""
    from dashboards.catalogue_datasets import ROLLUPS, is_additive
    from warehouse.metrics.catalogue import METRICS, metric_views

    for view in metric_views():
        dataset = assets.datasets[view.name]
        assert dataset.sql is None and dataset.schema_name == "erp"
        for column in view.grain_columns:
            assert re.search(r"[\u4e00-\u9fff]", dataset.columns[column]), (view.name, column)
    for metric in METRICS:
        saved = assets.datasets[metric.view.name].metrics[metric.name]
        assert saved.label == metric.label
        assert f"目录指标 {metric.name}" in saved.description
        # a sum or count re-sums exactly; anything else says how it combines
        assert is_additive(metric) != (metric.name in ROLLUPS), metric.name


def test_every_screen_fits_a_1920x1080_wall(assets: Assets) -> None:
    """Rows of charts stack up to at most 1,000 px (8 px a unit, margins included), so
    nothing scrolls on the wall; the live screens refresh themselves."""
    for board in assets.dashboards:
        heights: dict[int, int] = {}
        for item in [*board.charts, *board.markdown]:
            heights[item.row] = max(heights.get(item.row, 0), item.height)
        assert sum(heights.values()) * 8 + 16 * len(heights) <= 1000, board.slug
        assert board.refresh_seconds and board.refresh_seconds <= 60, board.slug
    live = {board.slug: board.refresh_seconds for board in assets.dashboards}
    assert live["promotion-live"] <= 30 and live["outbound-trend"] <= 30


def test_chart_filters_reach_both_the_screen_and_the_data_api(assets: Assets) -> None:
    board = next(b for b in assets.dashboards if b.slug == "outbound-trend")
    chart = next(c for c in board.charts if c.name == "今日出库金额")
    dataset = assets.datasets[chart.dataset]
    form = chart_form_data(chart, dataset, 7)
    assert form["adhoc_filters"][0]["sqlExpression"] == chart.where
    context = chart_query_context(chart, form, 7)
    assert context["queries"][0]["extras"]["where"] == f"({chart.where})"


def test_the_eight_screens_of_the_mission(assets: Assets) -> None:
    """Every screen once, under its zh-CN title; the warehouse's per-screen freshness view
    (migration 0009) names the seven business screens the same way."""
    assert {board.slug: board.title for board in assets.dashboards} == SCREENS
    migration = (PROJECT_ROOT / "warehouse" / "migrations" / "0009_ops_metrics.sql").read_text()
    in_view = dict(re.findall(r"\('([a-z-]+)', '([^']+)', '[a-z]+'\)", migration))
    assert in_view == {slug: title for slug, title in SCREENS.items() if slug != "ops-monitor"}


def test_every_chart_reads_columns_its_dataset_has(assets: Assets) -> None:
    """Group-by columns and x axes exist in the chart's dataset (metrics and a rows table's
    columns are checked when the assets load)."""
    for board in assets.dashboards:
        for chart in board.charts:
            columns = assets.datasets[chart.dataset].columns
            used = [*chart.groupby, *([chart.x_axis] if chart.x_axis else [])]
            assert set(used) <= set(columns), f"{board.slug}: {chart.name} {used}"


def _series_named(text: str) -> set[str]:
    """Series names a filter or metric picks: ``metric = 'x'`` and ``metric IN ('x', 'y')``."""
    names = set(re.findall(r"metric\s*=\s*'([a-z0-9_]+)'", text))
    for group in re.findall(r"metric\s+IN\s*\(([^)]*)\)", text):
        names |= set(re.findall(r"'([a-z0-9_]+)'", group))
    return names


def test_the_ops_monitor_reads_only_the_recorded_series(assets: Assets) -> None:
    """Screen 8 reads the monitor's tables (migration 0009) and the business alerts'
    deliveries, names only series that monitoring/screen_series.yaml records, draws its
    lines per minute on a category axis (not the daily grain of a time axis), and shows
    every alert rule by its zh-CN title."""
    board = next(b for b in assets.dashboards if b.slug == "ops-monitor")
    used = {chart.dataset for chart in board.charts}
    assert used == {"ops_latest", "ops_metrics", "ops_minutes", "ops_screen_freshness",
                    "ops_alerts"}  # fmt: skip
    allowed = {"erp.ops_metrics", "erp.ops_metrics_latest", "erp.alert_notifications"}
    texts = [chart.where for chart in board.charts]
    for name in used:
        dataset = assets.datasets[name]
        if dataset.sql is None:
            assert dataset.table_name in {"ops_metrics", "ops_screen_freshness"}, name
        else:
            assert set(re.findall(r"\bFROM\s+([\w.]+)", dataset.sql)) <= allowed, name
            texts.append(dataset.sql)
        texts += [metric.expression for metric in dataset.metrics.values()]
    recorded = yaml.safe_load((PROJECT_ROOT / "monitoring" / "screen_series.yaml").read_text())
    named = set().union(*(_series_named(text) for text in texts))
    assert named and named <= set(recorded), sorted(named - set(recorded))
    for chart in (c for c in board.charts if c.viz_type == "echarts_timeseries_line"):
        form = chart_form_data(chart, assets.datasets[chart.dataset], 1)
        assert form["xAxisForceCategorical"] is True and "time_grain_sqla" not in form
    alerts_sql = assets.datasets["ops_alerts"].sql or ""
    rules = [rule for path in sorted((PROJECT_ROOT / "monitoring" / "rules").glob("*.yml"))
             for group in yaml.safe_load(path.read_text())["groups"]
             for rule in group["rules"] if "alert" in rule]  # fmt: skip
    titles = {rule["alert"]: rule["annotations"]["title"] for rule in rules}
    for path in (PROJECT_ROOT / "dashboards" / "assets" / "alerts").glob("*.yaml"):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        titles[spec["name"]] = spec["title"]
    missing = [name for name, title in titles.items()
               if f"'{name}'" not in alerts_sql or f"'{title}'" not in alerts_sql]  # fmt: skip
    assert not missing, f"ops_alerts.yaml shows these alerts without their title: {missing}"
