"""One Superset dataset per metric view, generated from the metric catalogue.

Each ``metric_*`` view of ``warehouse/metrics`` becomes a physical dataset (so Superset's
row-level security filters it directly by ``shop_id``), with zh-CN column names and every
catalogue metric of the view as a saved metric: an operator drags 出库金额 onto a chart
and gets the catalogue's number, no SQL. The catalogue stays the one definition; what is
added here is how a metric re-aggregates when a chart groups the view's rows more coarsely
than the view's grain (all shops of a day, a week of days):

- additive metrics (sums and counts) sum;
- ratios whose parts are metrics of the same view divide the sums of the parts;
- the rest say how they combine (a weighted mean, the largest, the smallest), and the
  saved metric's description says so.
"""

from __future__ import annotations

import re

from dashboards.assets_spec import DatasetSpec, MetricSpec
from warehouse.metrics.catalogue import METRICS, metric_views
from warehouse.metrics.model import Metric, MetricView

SCHEMA = "erp"

# zh-CN names of the grain columns (metric columns take their metric's label).
GRAIN_LABELS = {
    "day": "日期", "hour": "小时", "hour_of_day": "时段", "shop_id": "店铺编号",
    "shop_name": "店铺", "platform": "平台", "shop_owner": "店长", "wms_co_id": "仓库编号",
    "warehouse_name": "仓库", "province": "省份", "sku_id": "商品编码", "sku_name": "商品名称",
    "category": "类目", "logistics_company": "承运商", "type": "售后类型",
    "question_type": "售后原因", "status_label": "售后状态", "wh_id_label": "收货仓",
}  # fmt: skip

# How the non-additive metrics combine over several of the view's rows.
ROLLUPS: dict[str, tuple[str, str]] = {
    "inventory_replenishment_qty": ("sum(inventory_replenishment_qty)", "各SKU建议补货量之和"),
    "outbound_orders": ("sum(outbound_orders)", "各行订单数之和(一单分几天出库时各日都计)"),
    "inventory_days_of_cover": ("avg(inventory_days_of_cover)", "各SKU可售天数的平均"),
    "inventory_turnover_days": ("max(inventory_turnover_days)", "全店一行"),
    "inventory_sell_through_rate": ("max(inventory_sell_through_rate)", "全店一行"),
    "outbound_avg_order_value": (
        "sum(outbound_amount) / nullIf(sum(outbound_orders), 0)", "出库金额 / 订单数"),
    "outbound_void_rate": ("avg(outbound_void_rate)", "各行作废取消率的平均"),
    "outbound_ship_lead_hours": (
        "sum(outbound_ship_lead_hours * outbound_documents) / nullIf(sum(outbound_documents), 0)",
        "按出库单数加权平均"),
    "outbound_ship_lead_hours_p90": ("max(outbound_ship_lead_hours_p90)", "各行P90的最大值"),
    "outbound_carrier_share": ("avg(outbound_carrier_share)", "各日占比的平均"),
    "outbound_amount_dod": ("avg(outbound_amount_dod)", "按日一行"),
    "outbound_amount_wow": ("avg(outbound_amount_wow)", "按日一行"),
    "outbound_pending_age_hours": ("max(outbound_pending_age_hours)", "最久的一单"),
    "outbound_avg_unit_price": (
        "sum(outbound_item_amount) / nullIf(sum(outbound_units), 0)", "商品出库金额 / 出库件数"),
    "outbound_sku_rank": ("min(outbound_sku_rank)", "最好的名次"),
    "aftersale_handling_hours": (
        "sum(aftersale_handling_hours * aftersale_documents) / nullIf(sum(aftersale_documents), 0)",
        "按售后单数加权平均"),
    "aftersale_type_share": ("avg(aftersale_type_share)", "各日占比的平均"),
    "aftersale_reason_share": ("avg(aftersale_reason_share)", "各日占比的平均"),
    "aftersale_status_share": ("avg(aftersale_status_share)", "各日占比的平均"),
    "aftersale_rate": ("avg(aftersale_rate)", "各行售后率的平均"),
    "aftersale_refund_amount_rate": ("avg(aftersale_refund_amount_rate)", "各行退款金额率的平均"),
    "aftersale_sku_rate": ("avg(aftersale_sku_rate)", "各行SKU售后率的平均"),
    "aftersale_defective_return_rate": (
        "sum(aftersale_defective_return_rate * aftersale_returned_units) "
        "/ nullIf(sum(aftersale_returned_units), 0)", "按退回件数加权平均"),
    "aftersale_receipt_timeliness": ("avg(aftersale_receipt_timeliness)", "各行及时率的平均"),
}  # fmt: skip

_AGGREGATE = r"(sum|count|countIf)\([^()]*(\([^()]*\)[^()]*)*\)"
_ADDITIVE = re.compile(rf"^{_AGGREGATE}([+-]{_AGGREGATE})*$")
_FORMATS = {"元": ",.2f", "%": ".1%", "件": ",d", "个": ",d", "单": ",d", "天": ",.1f",
            "小时": ",.1f", "名": ",d"}  # fmt: skip


def is_additive(metric: Metric) -> bool:
    """Sums and counts over the view's rows, added or subtracted: summing again is exact."""
    return bool(_ADDITIVE.match(metric.expression.replace(" ", "")))


def saved_metric(metric: Metric) -> MetricSpec:
    expression, how = ROLLUPS.get(metric.name, (f"sum({metric.name})", "合计"))
    return MetricSpec(
        label=metric.label,
        expression=expression,
        d3format=_FORMATS.get(metric.unit, "SMART_NUMBER"),
        description=f"目录指标 {metric.name}({metric.unit}):{metric.formula}。汇总方式:{how}",
    )


def dataset_for(view: MetricView) -> DatasetSpec:
    metrics = [m for m in METRICS if m.view.name == view.name]
    columns = {column: GRAIN_LABELS.get(column, column) for column in view.grain_columns}
    columns.update({m.name: m.label for m in metrics})
    return DatasetSpec.model_validate({
        "table_name": view.name,
        "schema": SCHEMA,
        "sql": None,
        "description": view.description,
        "main_dttm_col": "hour" if "hour" in columns else ("day" if "day" in columns else None),
        "columns": columns,
        "metrics": {m.name: saved_metric(m) for m in metrics},
    })  # fmt: skip


def catalogue_datasets() -> dict[str, DatasetSpec]:
    """Every metric view as a dataset, by view name."""
    return {view.name: dataset_for(view) for view in metric_views()}
