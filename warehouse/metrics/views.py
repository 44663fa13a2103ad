"""The metric views: grain and source of each. Sources are DWS serving tables only.

The DWS tables are snapshots of ``DWD FINAL`` taken by refreshable materialized views
(migration 0003), so these views need neither FINAL nor argMax and still give the answer
FINAL would. Views that combine two families join pre-aggregated subqueries on their grain.
"""

from __future__ import annotations

from warehouse.metrics.model import MetricView

# The merchant's calendar day: ERP times are GMT+8, whatever the server's time zone is.
BUSINESS_TODAY = "toDate(now(), 'Asia/Shanghai')"

SHOP_GRAIN = (
    ("shop_id", "shop_id"),
    ("shop_name", "shop_name"),
    ("platform", "platform"),
    ("shop_owner", "shop_owner"),
)

# Inventory summed over warehouses per SKU, with its recent outbound.
_SKU_STOCK = (
    "(SELECT sku_id, any(sku_name) AS sku_name, any(category) AS category, "
    "sum(qty) AS qty, sum(available_qty) AS available_qty, sum(purchase_qty) AS purchase_qty "
    "FROM dws_inventory_current GROUP BY sku_id) AS stock "
    "LEFT JOIN dws_sku_sales AS sales ON sales.sku_id = stock.sku_id"
)

INVENTORY_WAREHOUSE = MetricView(
    name="metric_inventory_warehouse",
    description="Current inventory per warehouse (rows are SKU x warehouse positions).",
    grain=(("wms_co_id", "wms_co_id"), ("warehouse_name", "warehouse_name"),
           ("province", "province")),
    source="dws_inventory_current",
    sources=("dws_inventory_current",),
)  # fmt: skip

INVENTORY_SKU = MetricView(
    name="metric_inventory_sku",
    description="Current inventory per SKU (all warehouses) against its last 7 days of outbound.",
    grain=(("sku_id", "stock.sku_id"), ("sku_name", "stock.sku_name"),
           ("category", "stock.category")),
    source=_SKU_STOCK,
    sources=("dws_inventory_current", "dws_sku_sales"),
)  # fmt: skip

INVENTORY_OVERVIEW = MetricView(
    name="metric_inventory_overview",
    description="Merchant-wide inventory health: one row.",
    grain=(),
    source=_SKU_STOCK,
    sources=("dws_inventory_current", "dws_sku_sales"),
)

OUTBOUND_HOURLY = MetricView(
    name="metric_outbound_hourly",
    description="Confirmed outbound per hour and shop: the hourly curve.",
    grain=(("hour", "hour"), *SHOP_GRAIN),
    source="dws_sale_out_hourly",
    sources=("dws_sale_out_hourly",),
)

OUTBOUND_DAILY = MetricView(
    name="metric_outbound_daily",
    description="Outbound documents per day and shop (day of io_date, GMT+8).",
    grain=(("day", "toDate(hour)"), *SHOP_GRAIN),
    source="dws_sale_out_hourly",
    sources=("dws_sale_out_hourly",),
)

OUTBOUND_CARRIER = MetricView(
    name="metric_outbound_carrier_daily",
    description="Carrier mix of confirmed outbound documents per day.",
    grain=(("day", "toDate(hour)"), ("logistics_company", "logistics_company")),
    source="dws_sale_out_hourly",
    sources=("dws_sale_out_hourly",),
)

_DAILY_AMOUNT = (
    "SELECT toDate(hour){shift} AS day, sum(pay_amount) AS amount "
    "FROM dws_sale_out_hourly GROUP BY day"
)

OUTBOUND_TREND = MetricView(
    name="metric_outbound_trend",
    description="Daily outbound amount against the day before and the same day a week before.",
    grain=(("day", "this_day.day"),),
    source=(
        f"({_DAILY_AMOUNT.format(shift='')}) AS this_day "
        f"LEFT JOIN ({_DAILY_AMOUNT.format(shift=' + 1')}) AS previous_day "
        "ON previous_day.day = this_day.day "
        f"LEFT JOIN ({_DAILY_AMOUNT.format(shift=' + 7')}) AS previous_week "
        "ON previous_week.day = this_day.day"
    ),
    sources=("dws_sale_out_hourly",),
)

OUTBOUND_FORECAST = MetricView(
    name="metric_outbound_forecast",
    description="Today's 24 h forecast per hour of day (statsmodels MSTL + Holt, "
    "remade every 15 minutes from the hours before today; see warehouse/forecast).",
    grain=(("hour_of_day", "toHour(hour)"),),
    source="dws_outbound_forecast_hourly",
    sources=("dws_outbound_forecast_hourly",),
    where=f"toDate(hour) = {BUSINESS_TODAY}",
)

OUTBOUND_FORECAST_DAILY = MetricView(
    name="metric_outbound_forecast_daily",
    description="Outbound amount forecast per shop for today and the next 29 days "
    "(statsmodels Holt-Winters with a weekday season, from the days before today).",
    grain=(("day", "day"), ("shop_id", "shop_id")),
    source="dws_outbound_forecast_daily",
    sources=("dws_outbound_forecast_daily",),
    where=f"day >= {BUSINESS_TODAY}",
)

OUTBOUND_BACKLOG = MetricView(
    name="metric_outbound_backlog",
    description="Outbound documents waiting to ship, per shop, and how long the oldest waits.",
    grain=(("shop_id", "shop_id"), ("shop_name", "shop_name"), ("shop_owner", "shop_owner")),
    source="dws_sale_out_pending",
    sources=("dws_sale_out_pending",),
)

OUTBOUND_ITEM_DAILY = MetricView(
    name="metric_outbound_item_daily",
    description="Confirmed outbound units and line amounts per day and shop.",
    grain=(("day", "day"), ("shop_id", "shop_id"), ("platform", "platform"),
           ("shop_owner", "shop_owner")),
    source="dws_sale_out_item_daily",
    sources=("dws_sale_out_item_daily",),
)  # fmt: skip

OUTBOUND_SKU_DAILY = MetricView(
    name="metric_outbound_sku_daily",
    description="Confirmed outbound per day and SKU: the top-SKU ranking.",
    grain=(("day", "day"), ("sku_id", "sku_id"), ("sku_name", "sku_name"),
           ("category", "category")),
    source="dws_sale_out_item_daily",
    sources=("dws_sale_out_item_daily",),
)  # fmt: skip

AFTERSALE_DAILY = MetricView(
    name="metric_aftersale_daily",
    description="After-sale documents per day (as_date, GMT+8) and shop.",
    grain=(("day", "day"), ("shop_id", "shop_id"), ("platform", "platform"),
           ("shop_owner", "shop_owner")),
    source="dws_refund_daily",
    sources=("dws_refund_daily",),
)  # fmt: skip


def _mix_view(name: str, column: str, what: str) -> MetricView:
    return MetricView(
        name=name,
        description=f"Share of after-sale documents by {what}, per day.",
        grain=(("day", "day"), (column, column)),
        source="dws_refund_daily",
        sources=("dws_refund_daily",),
    )


AFTERSALE_TYPE_MIX = _mix_view("metric_aftersale_type_mix", "type", "after-sale type")
AFTERSALE_REASON_MIX = _mix_view("metric_aftersale_reason_mix", "question_type", "reason")
AFTERSALE_STATUS_MIX = _mix_view("metric_aftersale_status_mix", "status_label", "status")

AFTERSALE_RATE = MetricView(
    name="metric_aftersale_rate_daily",
    description="After-sale documents and refunds against outbound, per day and shop.",
    grain=(("day", "day"), ("shop_id", "shop_id")),
    source=(
        "(SELECT toDate(hour) AS day, shop_id, sum(confirmed) AS out_documents, "
        "sum(pay_amount) AS out_amount FROM dws_sale_out_hourly GROUP BY day, shop_id) AS outbound "
        "FULL OUTER JOIN (SELECT day, shop_id, sum(documents) - sum(cancelled) AS as_documents, "
        "sum(refund) AS refund FROM dws_refund_daily GROUP BY day, shop_id) AS aftersale "
        "USING (day, shop_id)"
    ),
    sources=("dws_sale_out_hourly", "dws_refund_daily"),
)

AFTERSALE_SKU = MetricView(
    name="metric_aftersale_sku_daily",
    description="After-sale documents against outbound documents per day and SKU.",
    grain=(("day", "day"), ("sku_id", "sku_id")),
    source="dws_sku_aftersale_daily",
    sources=("dws_sku_aftersale_daily",),
)

AFTERSALE_RETURNS = MetricView(
    name="metric_aftersale_returns_daily",
    description="Units buyers sent back and how many were defective, per day and shop.",
    grain=(("day", "day"), ("shop_id", "shop_id")),
    source="dws_refund_item_daily",
    sources=("dws_refund_item_daily",),
)

AFTERSALE_RECEIVED = MetricView(
    name="metric_aftersale_received_daily",
    description="Return receipts per day (receipt time, GMT+8) and shop.",
    grain=(("day", "day"), ("shop_id", "shop_id")),
    source="dws_received_daily",
    sources=("dws_received_daily",),
)

FINANCE_DAILY = MetricView(
    name="metric_finance_daily",
    description="Daily finance per shop: GMV, platform fee, net received.",
    grain=(("day", "day"), ("shop_id", "shop_id")),
    source=(
        "(SELECT toDate(hour) AS day, shop_id, sum(pay_amount) AS pay_amount, "
        "sum(free_amount) AS free_amount, sum(freight) AS freight, "
        "sum(platform_fee) AS platform_fee FROM dws_sale_out_hourly "
        "GROUP BY day, shop_id) AS outbound "
        "FULL OUTER JOIN (SELECT day, shop_id, sum(refund) AS refund FROM dws_refund_daily "
        "GROUP BY day, shop_id) AS aftersale USING (day, shop_id)"
    ),
    sources=("dws_sale_out_hourly", "dws_refund_daily"),
)
