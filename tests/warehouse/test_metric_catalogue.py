"""The metric catalogue: complete, defined once, FINAL-free, documented."""

from __future__ import annotations

import re

from warehouse.metrics import docs
from warehouse.metrics.build import create_statements, view_sql
from warehouse.metrics.catalogue import METRICS, metric, metric_views
from warehouse.metrics.model import Family

DWS_TABLES = {"dws_inventory_current", "dws_sku_sales", "dws_sale_out_hourly",
              "dws_sale_out_pending", "dws_sale_out_item_daily", "dws_refund_daily",
              "dws_refund_item_daily", "dws_received_daily", "dws_sku_aftersale_daily",
              "dws_outbound_forecast_hourly", "dws_outbound_forecast_daily"}  # fmt: skip


def test_the_catalogue_has_at_least_42_metrics_in_every_family() -> None:
    assert len(METRICS) >= 42
    per_family = {family: sum(m.family is family for m in METRICS) for family in Family}
    assert per_family[Family.INVENTORY] >= 16 and per_family[Family.OUTBOUND] >= 18
    assert per_family[Family.AFTERSALE] + per_family[Family.FINANCE] >= 14


def test_each_metric_is_defined_once_with_label_formula_unit_and_grain() -> None:
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names))
    labels = [m.label for m in METRICS]
    assert len(labels) == len(set(labels)), "two metrics share a zh-CN label"
    for item in METRICS:
        assert re.fullmatch(r"[a-z][a-z0-9_]+", item.name)
        assert re.search(r"[\u4e00-\u9fff]", item.label), f"{item.name} has no Chinese label"
        assert item.formula and item.unit and item.grain
    assert metric("outbound_amount").view.name == "metric_outbound_daily"


def test_metric_views_read_only_dws_serving_tables_never_final() -> None:
    for view in metric_views():
        sql = view_sql(view)
        assert "FINAL" not in sql.upper().split(), view.name
        assert "argMax" not in sql
        tables = set(re.findall(r"\b(?:dwd|dws|dim|ods)_[a-z_]+\b", sql))
        assert tables and tables <= DWS_TABLES, f"{view.name} reads {tables - DWS_TABLES}"
        assert set(view.sources) == tables


def test_every_view_becomes_one_create_statement_with_all_its_metrics() -> None:
    statements = create_statements()
    assert len(statements) == len(metric_views())
    text = "\n".join(statements)
    for item in METRICS:
        assert f" AS {item.name}" in text


def test_the_metrics_reference_is_generated_from_the_catalogue() -> None:
    assert docs.DOC_PATH.read_text(encoding="utf-8") == docs.render(), (
        "docs/metrics.md is stale: run `erpbi warehouse metrics --write-doc`"
    )
    for item in METRICS:
        assert f"`{item.name}` | {item.label}" in docs.render()
