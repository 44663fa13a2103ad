"""Every metric of the catalogue (mission.md), defined once.

Each entry names its view (grain + DWS source), the SQL aggregate that computes it there,
the formula in words and the unit. ``views.create_statements`` builds the warehouse views
from this list and ``docs`` renders docs/metrics.md from it. Rates are Float64 and NULL
where the denominator is zero.
"""

from __future__ import annotations

from warehouse.metrics import views as v
from warehouse.metrics.model import Family, Metric, MetricView

INV, OUT, AS, FIN = Family.INVENTORY, Family.OUTBOUND, Family.AFTERSALE, Family.FINANCE


def ratio(numerator: str, denominator: str) -> str:
    """numerator / denominator as Float64, NULL when the denominator is 0."""
    return f"toFloat64({numerator}) / nullIf(toFloat64({denominator}), 0)"


def share_of_day(column: str) -> str:
    return ratio(f"sum({column})", f"sum(sum({column})) OVER (PARTITION BY day)")


def _m(name: str, label: str, family: Family, view: MetricView, expression: str,
       formula: str, unit: str) -> Metric:  # fmt: skip
    return Metric(name, label, family, view, expression, formula, unit)


METRICS: tuple[Metric, ...] = (
    # --- inventory (库存) -----------------------------------------------------------------
    _m("inventory_on_hand_qty", "在库数量", INV, v.INVENTORY_WAREHOUSE, "sum(qty)",
       "sum of qty", "件"),
    _m("inventory_available_qty", "可用数量", INV, v.INVENTORY_WAREHOUSE, "sum(available_qty)",
       "sum of qty + virtual_qty - order_lock - lock_qty", "件"),
    _m("inventory_order_locked_qty", "订单占有数", INV, v.INVENTORY_WAREHOUSE, "sum(order_lock)",
       "sum of order_lock", "件"),
    _m("inventory_purchase_in_transit_qty", "采购在途数", INV, v.INVENTORY_WAREHOUSE,
       "sum(purchase_qty)", "sum of purchase_qty", "件"),
    _m("inventory_inbound_qty", "进货仓数量", INV, v.INVENTORY_WAREHOUSE, "sum(in_qty)",
       "sum of in_qty", "件"),
    _m("inventory_defective_qty", "次品数量", INV, v.INVENTORY_WAREHOUSE, "sum(defective_qty)",
       "sum of defective_qty", "件"),
    _m("inventory_sales_return_qty", "销退仓数量", INV, v.INVENTORY_WAREHOUSE, "sum(return_qty)",
       "sum of return_qty", "件"),
    _m("inventory_below_safety_skus", "低于安全库存SKU数", INV, v.INVENTORY_WAREHOUSE,
       "countIf(available_qty < min_qty)",
       "SKU x warehouse positions with available < min_qty", "个"),
    _m("inventory_out_of_stock_skus", "缺货SKU数", INV, v.INVENTORY_WAREHOUSE,
       "countIf(available_qty <= 0)", "SKU x warehouse positions with available <= 0", "个"),
    _m("inventory_overstock_skus", "积压SKU数", INV, v.INVENTORY_WAREHOUSE,
       "countIf(qty > max_qty AND max_qty > 0)",
       "SKU x warehouse positions with qty > max_qty > 0", "个"),
    _m("inventory_stock_value", "库存金额", INV, v.INVENTORY_WAREHOUSE, "sum(stock_value)",
       "sum of qty x cost price", "元"),
    _m("inventory_days_of_cover", "可售天数", INV, v.INVENTORY_SKU,
       ratio("sum(available_qty)", "sum(units_7d) / 7"),
       "available / (last-7-day confirmed outbound units / 7); NULL without sales", "天"),
    _m("inventory_replenishment_qty", "建议补货量", INV, v.INVENTORY_SKU,
       "greatest(toInt64(0), toInt64(2 * sum(units_7d) - sum(available_qty) - sum(purchase_qty)))",
       "max(0, 14 days of the 7-day average outbound - available - purchase in transit)", "件"),
    _m("inventory_turnover_days", "库存周转天数", INV, v.INVENTORY_OVERVIEW,
       ratio("sum(qty)", "sum(units_7d) / 7"),
       "closing on-hand qty / (last-7-day confirmed outbound units / 7)", "天"),
    _m("inventory_sell_through_rate", "动销率", INV, v.INVENTORY_OVERVIEW,
       ratio("countIf(qty > 0 AND units_7d > 0)", "countIf(qty > 0)"),
       "SKUs in stock with outbound in the last 7 days / SKUs in stock", "%"),
    _m("inventory_slow_movers", "滞销SKU数", INV, v.INVENTORY_OVERVIEW,
       "countIf(qty > 0 AND units_30d = 0)",
       "SKUs in stock with no confirmed outbound in the last 30 days", "个"),
    # --- outbound (出库) ------------------------------------------------------------------
    _m("outbound_hourly_amount", "小时出库金额", OUT, v.OUTBOUND_HOURLY, "sum(pay_amount)",
       "sum of pay_amount of confirmed documents, per hour", "元"),
    _m("outbound_documents", "出库单数", OUT, v.OUTBOUND_DAILY, "sum(confirmed)",
       "confirmed outbound documents", "单"),
    _m("outbound_orders", "订单数", OUT, v.OUTBOUND_DAILY, "uniqExactMerge(orders)",
       "distinct o_id of confirmed documents", "单"),
    _m("outbound_amount", "出库金额", OUT, v.OUTBOUND_DAILY, "sum(pay_amount)",
       "sum of pay_amount of confirmed documents (by shop: the shop ranking)", "元"),
    _m("outbound_avg_order_value", "客单价", OUT, v.OUTBOUND_DAILY,
       ratio("sum(pay_amount)", "uniqExactMerge(orders)"), "outbound amount / orders", "元"),
    _m("outbound_void_rate", "作废取消率", OUT, v.OUTBOUND_DAILY,
       ratio("sum(voided)", "sum(documents)"),
       "cancelled or deleted documents / all outbound documents", "%"),
    _m("outbound_discount_amount", "优惠金额", OUT, v.OUTBOUND_DAILY, "sum(free_amount)",
       "sum of free_amount of confirmed documents", "元"),
    _m("outbound_freight", "运费", OUT, v.OUTBOUND_DAILY, "sum(freight)",
       "sum of freight of confirmed documents", "元"),
    _m("outbound_ship_lead_hours", "平均发货时长", OUT, v.OUTBOUND_DAILY,
       ratio("sum(lead_seconds_sum)", "sum(lead_seconds_n) * 3600"),
       "mean of pay_date -> io_date over confirmed documents, hours", "小时"),
    _m("outbound_ship_lead_hours_p90", "发货时长P90", OUT, v.OUTBOUND_DAILY,
       "quantileExactMerge(0.9)(lead_seconds) / 3600",
       "90th percentile (exact, lower) of pay_date -> io_date, hours", "小时"),
    _m("outbound_carrier_share", "承运商占比", OUT, v.OUTBOUND_CARRIER, share_of_day("confirmed"),
       "confirmed documents of the carrier / confirmed documents of the day", "%"),
    _m("outbound_amount_dod", "出库金额日环比", OUT, v.OUTBOUND_TREND,
       ratio("sum(this_day.amount) - sum(previous_day.amount)", "sum(previous_day.amount)"),
       "(amount of the day - amount of the day before) / amount of the day before", "%"),
    _m("outbound_amount_wow", "出库金额周同比", OUT, v.OUTBOUND_TREND,
       ratio("sum(this_day.amount) - sum(previous_week.amount)", "sum(previous_week.amount)"),
       "(amount of the day - amount 7 days before) / amount 7 days before", "%"),
    _m("outbound_forecast_amount", "今日预测出库金额", OUT, v.OUTBOUND_FORECAST,
       "sum(amount)", "forecast outbound amount of this hour today: MSTL (daily and weekly "
       "seasons) + damped Holt on the log of 8 weeks of hours, promotion hours replaced; "
       "the mean of this hour over the last 7 days with under two weeks of history", "元"),
    _m("outbound_forecast_daily_amount", "预测日出库金额", OUT, v.OUTBOUND_FORECAST_DAILY,
       "sum(amount)", "forecast outbound amount of the day per shop, up to 30 days ahead: "
       "Holt-Winters (damped trend, weekday season) on the log of 16 weeks of days, "
       "promotion days replaced", "元"),
    _m("outbound_pending_documents", "待出库单数", OUT, v.OUTBOUND_BACKLOG, "count()",
       "documents in WaitConfirm / OuterConfirming", "单"),
    _m("outbound_pending_age_hours", "待出库最长等待", OUT, v.OUTBOUND_BACKLOG,
       "dateDiff('second', min(created), now()) / 3600",
       "now - created of the oldest waiting document, hours", "小时"),
    _m("outbound_units", "出库件数", OUT, v.OUTBOUND_ITEM_DAILY, "sum(units)",
       "units on confirmed documents", "件"),
    _m("outbound_item_amount", "商品出库金额", OUT, v.OUTBOUND_ITEM_DAILY, "sum(amount)",
       "sum of sale_amount of confirmed items", "元"),
    _m("outbound_avg_unit_price", "件单价", OUT, v.OUTBOUND_ITEM_DAILY,
       ratio("sum(amount)", "sum(units)"), "item amount / units", "元"),
    _m("outbound_sku_amount", "SKU销售额", OUT, v.OUTBOUND_SKU_DAILY, "sum(amount)",
       "sum of sale_amount of confirmed items of the SKU", "元"),
    _m("outbound_sku_rank", "SKU销售排名", OUT, v.OUTBOUND_SKU_DAILY,
       "rank() OVER (PARTITION BY day ORDER BY sum(amount) DESC)",
       "rank of the SKU by item amount within the day (top SKUs)", "名"),
    # --- after-sale (售后) ----------------------------------------------------------------
    _m("aftersale_documents", "售后单数", AS, v.AFTERSALE_DAILY, "sum(documents)",
       "after-sale documents, every status", "单"),
    _m("aftersale_refund_amount", "退款金额", AS, v.AFTERSALE_DAILY, "sum(refund)",
       "sum of refund of confirmed after-sale documents", "元"),
    _m("aftersale_handling_hours", "平均处理时长", AS, v.AFTERSALE_DAILY,
       ratio("sum(handling_sum)", "sum(handling_n) * 3600"),
       "mean of as_date -> confirm_date over confirmed documents, hours", "小时"),
    _m("aftersale_type_share", "售后类型占比", AS, v.AFTERSALE_TYPE_MIX, share_of_day("documents"),
       "documents of the type / documents of the day", "%"),
    _m("aftersale_reason_share", "售后原因占比", AS, v.AFTERSALE_REASON_MIX,
       share_of_day("documents"), "documents with the reason / documents of the day", "%"),
    _m("aftersale_status_share", "售后状态占比", AS, v.AFTERSALE_STATUS_MIX,
       share_of_day("documents"), "documents in the status / documents of the day", "%"),
    _m("aftersale_rate", "售后率", AS, v.AFTERSALE_RATE,
       ratio("sum(as_documents)", "sum(out_documents)"),
       "after-sale documents (not cancelled) / confirmed outbound documents", "%"),
    _m("aftersale_refund_amount_rate", "退款金额率", AS, v.AFTERSALE_RATE,
       ratio("sum(refund)", "sum(out_amount)"), "refund amount / outbound amount", "%"),
    _m("aftersale_sku_rate", "SKU售后率", AS, v.AFTERSALE_SKU,
       ratio("sum(as_documents)", "sum(out_documents)"),
       "after-sale documents (not cancelled) with the SKU / confirmed outbound documents with it",
       "%"),
    _m("aftersale_returned_units", "退回件数", AS, v.AFTERSALE_RETURNS, "sum(returned)",
       "r_qty of after-sale items (not cancelled)", "件"),
    _m("aftersale_defective_return_rate", "退货次品率", AS, v.AFTERSALE_RETURNS,
       ratio("sum(defective)", "sum(returned)"), "defective units / returned units", "%"),
    _m("aftersale_received_units", "收货件数", AS, v.AFTERSALE_RECEIVED, "sum(units)",
       "units on return receipts", "件"),
    _m("aftersale_receipt_timeliness", "退货及时率", AS, v.AFTERSALE_RECEIVED,
       ratio("sum(on_time)", "sum(with_refund)"),
       "receipts within 7 days of their after-sale date / receipts with a known after-sale", "%"),
    # --- finance (财务) -------------------------------------------------------------------
    _m("finance_gmv", "成交总额GMV", FIN, v.FINANCE_DAILY,
       "sum(pay_amount) + sum(free_amount) - sum(freight)",
       "merchandise value of confirmed documents: pay_amount + discount - freight", "元"),
    _m("finance_platform_fee", "平台佣金", FIN, v.FINANCE_DAILY, "sum(platform_fee)",
       "pay_amount x the shop's platform fee rate (shop sheet), confirmed documents", "元"),
    _m("finance_net_received", "实收净额", FIN, v.FINANCE_DAILY,
       "sum(pay_amount) - sum(platform_fee) - sum(refund)",
       "outbound amount - platform fee - refund amount", "元"),
)  # fmt: skip

BY_NAME: dict[str, Metric] = {metric.name: metric for metric in METRICS}


def metric(name: str) -> Metric:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no metric {name!r}; known: {', '.join(sorted(BY_NAME))}") from None


def metric_views() -> list[MetricView]:
    """Every view that holds at least one metric, in catalogue order."""
    seen: dict[str, MetricView] = {}
    for item in METRICS:
        seen.setdefault(item.view.name, item.view)
    return list(seen.values())


def metrics_of(view: MetricView) -> list[Metric]:
    return [item for item in METRICS if item.view.name == view.name]
