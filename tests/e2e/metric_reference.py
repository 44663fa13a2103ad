"""Every catalogue metric computed independently, in plain Python, from the ERP's own records.

Input: what the simulator holds (latest version of every record, via its control API), the
shop sheet the test loaded, and the warehouse's ``today``. Output: for each metric view,
``{grain key: {metric: value}}``, to compare with ``SELECT * FROM <view>``. Nothing here
reads the warehouse or reuses its SQL: the definitions are re-implemented from the
catalogue's formulas, so a wrong view, DWS refresh or Flink widening shows up as a
difference.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

Rows = dict[tuple[Any, ...], dict[str, Any]]
FOUR = Decimal("0.0001")
SIX = Decimal("0.000001")
CONFIRMED = "Confirmed"
VOIDED = ("Cancelled", "Delete")
PENDING = ("WaitConfirm", "OuterConfirming")
REFUND_STATUS_LABELS = {"WaitConfirm": "待审核", "Confirmed": "已确认", "Cancelled": "已取消",
                        "Merged": "已合并"}  # fmt: skip
RECEIVED_KIND_LABELS = {1: "主仓", 2: "销退仓", 3: "进货仓", 4: "次品仓"}


def money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(FOUR)


def ratio(numerator: Any, denominator: Any) -> float | None:
    return None if not denominator else float(numerator) / float(denominator)


def erp_time(text: str | None) -> datetime | None:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S") if text else None


def day_of(text: str | None, fallback: str) -> str:
    return (text or fallback)[:10]


def hour_of(text: str | None, fallback: str) -> str:
    return (text or fallback)[:13] + ":00:00"


@dataclass
class ErpSnapshot:
    """The ERP's records, as the simulator's control API returns them."""

    inventory: list[dict[str, Any]]
    skus: list[dict[str, Any]]
    shops: list[dict[str, Any]]
    warehouses: list[dict[str, Any]]
    outbound: list[dict[str, Any]]
    refunds: list[dict[str, Any]]
    received: list[dict[str, Any]]
    sheet: dict[int, dict[str, Any]]  # shop_id -> owner, region, platform_fee_rate
    today: date
    sku_by_id: dict[str, dict[str, Any]] = field(init=False)
    shop_by_id: dict[int, dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.sku_by_id = {str(row["sku_id"]): row for row in self.skus}
        self.shop_by_id = {int(row["shop_id"]): row for row in self.shops}

    def platform(self, shop_id: int) -> str:
        return str(self.shop_by_id.get(shop_id, {}).get("shop_site") or "")

    def owner(self, shop_id: int) -> str:
        return str(self.sheet.get(shop_id, {}).get("owner") or "")

    def fee_rate(self, shop_id: int) -> Decimal:
        return Decimal(str(self.sheet.get(shop_id, {}).get("platform_fee_rate") or 0)).quantize(SIX)

    def shop_name(self, document: dict[str, Any]) -> str:
        return str(document.get("shop_name") or self.shop_by_id.get(int(document["shop_id"]), {})
                   .get("shop_name") or "")  # fmt: skip


def _sum_into(target: dict[str, Any], **values: Any) -> None:
    for name, value in values.items():
        target[name] = target.get(name, 0) + value


# --- inventory ---------------------------------------------------------------------------


def _recent_units(erp: ErpSnapshot) -> tuple[Counter[str], Counter[str]]:
    """Confirmed outbound units per SKU: last 7 days and last 30 days (including today)."""
    units_7d: Counter[str] = Counter()
    units_30d: Counter[str] = Counter()
    for document in erp.outbound:
        if document["status"] != CONFIRMED or not document.get("io_date"):
            continue
        age = (erp.today - date.fromisoformat(document["io_date"][:10])).days
        for item in document.get("items") or []:
            if age < 30:
                units_30d[str(item["sku_id"])] += int(item["qty"])
            if age < 7:
                units_7d[str(item["sku_id"])] += int(item["qty"])
    return units_7d, units_30d


def _position(row: dict[str, Any], erp: ErpSnapshot) -> dict[str, Any]:
    qty = int(row.get("qty") or 0)
    sku = erp.sku_by_id.get(str(row["sku_id"]), {})
    available = (qty + int(row.get("virtual_qty") or 0) - int(row.get("order_lock") or 0)
                 - int(row.get("lock_qty") or 0))  # fmt: skip
    return {"qty": qty, "available": available, "cost": money(sku.get("cost_price")),
            "sku": sku}  # fmt: skip


def inventory_warehouse(erp: ErpSnapshot) -> Rows:
    warehouses = {int(row["wms_co_id"]): row for row in erp.warehouses}
    rows: Rows = {}
    for row in erp.inventory:
        wms = int(row["wms_co_id"])
        info = warehouses.get(wms, {})
        key = (wms, str(info.get("name") or ""), str(info.get("province") or ""))
        position = _position(row, erp)
        qty, available = position["qty"], position["available"]
        _sum_into(rows.setdefault(key, {}),
                  inventory_on_hand_qty=qty,
                  inventory_available_qty=available,
                  inventory_order_locked_qty=int(row.get("order_lock") or 0),
                  inventory_purchase_in_transit_qty=int(row.get("purchase_qty") or 0),
                  inventory_inbound_qty=int(row.get("in_qty") or 0),
                  inventory_defective_qty=int(row.get("defective_qty") or 0),
                  inventory_sales_return_qty=int(row.get("return_qty") or 0),
                  inventory_below_safety_skus=int(available < int(row.get("min_qty") or 0)),
                  inventory_out_of_stock_skus=int(available <= 0),
                  inventory_overstock_skus=int(qty > int(row.get("max_qty") or 0) > 0),
                  inventory_stock_value=(position["cost"] * qty).quantize(FOUR))  # fmt: skip
    return rows


def _sku_stock(erp: ErpSnapshot) -> dict[str, dict[str, Any]]:
    stock: dict[str, dict[str, Any]] = {}
    for row in erp.inventory:
        position = _position(row, erp)
        entry = stock.setdefault(str(row["sku_id"]), {
            "name": str(position["sku"].get("name") or ""),
            "category": str(position["sku"].get("category") or ""),
            "qty": 0, "available": 0, "purchase": 0})  # fmt: skip
        _sum_into(entry, qty=position["qty"], available=position["available"],
                  purchase=int(row.get("purchase_qty") or 0))  # fmt: skip
    return stock


def inventory_sku(erp: ErpSnapshot) -> Rows:
    units_7d, _ = _recent_units(erp)
    rows: Rows = {}
    for sku_id, entry in _sku_stock(erp).items():
        sold = units_7d.get(sku_id, 0)
        rows[(sku_id, entry["name"], entry["category"])] = {
            "inventory_days_of_cover": ratio(entry["available"], sold / 7),
            "inventory_replenishment_qty": max(
                0, 2 * sold - entry["available"] - entry["purchase"]
            ),
        }
    return rows


def inventory_overview(erp: ErpSnapshot) -> Rows:
    units_7d, units_30d = _recent_units(erp)
    stock = _sku_stock(erp)
    in_stock = [sku for sku, entry in stock.items() if entry["qty"] > 0]
    return {(): {
        "inventory_turnover_days": ratio(sum(e["qty"] for e in stock.values()),
                                         sum(units_7d.get(sku, 0) for sku in stock) / 7),
        "inventory_sell_through_rate": ratio(sum(1 for sku in in_stock if units_7d.get(sku, 0) > 0),
                                             len(in_stock)),
        "inventory_slow_movers": sum(1 for sku in in_stock if units_30d.get(sku, 0) == 0),
    }}  # fmt: skip


# --- outbound ----------------------------------------------------------------------------


def _outbound_shop_key(erp: ErpSnapshot, document: dict[str, Any]) -> tuple[Any, ...]:
    shop_id = int(document["shop_id"])
    return (shop_id, erp.shop_name(document), erp.platform(shop_id), erp.owner(shop_id))


def _lead_seconds(document: dict[str, Any]) -> int | None:
    paid, shipped = erp_time(document.get("pay_date")), erp_time(document.get("io_date"))
    return None if paid is None or shipped is None else int((shipped - paid).total_seconds())


def outbound_hourly(erp: ErpSnapshot) -> Rows:
    rows: Rows = {}
    for document in erp.outbound:
        key = (hour_of(document.get("io_date"), document["modified"]),
               *_outbound_shop_key(erp, document))  # fmt: skip
        confirmed = document["status"] == CONFIRMED
        _sum_into(
            rows.setdefault(key, {}),
            outbound_hourly_amount=money(document["pay_amount"]) if confirmed else money(0),
        )
    return rows


def outbound_daily(erp: ErpSnapshot) -> Rows:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for document in erp.outbound:
        key = (day_of(document.get("io_date"), document["modified"]),
               *_outbound_shop_key(erp, document))  # fmt: skip
        groups[key].append(document)
    rows: Rows = {}
    for key, documents in groups.items():
        confirmed = [d for d in documents if d["status"] == CONFIRMED]
        orders = len({d["o_id"] for d in confirmed})
        pay = sum((money(d["pay_amount"]) for d in confirmed), money(0))
        leads = sorted(s for d in confirmed if (s := _lead_seconds(d)) is not None)
        rows[key] = {
            "outbound_documents": len(confirmed),
            "outbound_orders": orders,
            "outbound_amount": pay,
            "outbound_avg_order_value": ratio(pay, orders),
            "outbound_void_rate": ratio(
                sum(d["status"] in VOIDED for d in documents), len(documents)
            ),
            "outbound_discount_amount": sum((money(d["free_amount"]) for d in confirmed), money(0)),
            "outbound_freight": sum((money(d["freight"]) for d in confirmed), money(0)),
            "outbound_ship_lead_hours": ratio(sum(leads), len(leads) * 3600),
            "outbound_ship_lead_hours_p90": (leads[int(0.9 * len(leads))] / 3600 if leads else 0.0),
        }
    return rows


def outbound_carrier(erp: ErpSnapshot) -> Rows:
    per_carrier: Counter[tuple[str, str]] = Counter()
    per_day: Counter[str] = Counter()
    for document in erp.outbound:
        day = day_of(document.get("io_date"), document["modified"])
        confirmed = int(document["status"] == CONFIRMED)
        per_carrier[(day, str(document.get("logistics_company") or ""))] += confirmed
        per_day[day] += confirmed
    return {key: {"outbound_carrier_share": ratio(count, per_day[key[0]])}
            for key, count in per_carrier.items()}  # fmt: skip


def _daily_amount(erp: ErpSnapshot) -> dict[str, Decimal]:
    amounts: dict[str, Decimal] = {}
    for document in erp.outbound:
        day = day_of(document.get("io_date"), document["modified"])
        value = money(document["pay_amount"]) if document["status"] == CONFIRMED else money(0)
        amounts[day] = amounts.get(day, money(0)) + value
    return amounts


def outbound_trend(erp: ErpSnapshot) -> Rows:
    amounts = _daily_amount(erp)
    rows: Rows = {}
    for day, amount in amounts.items():
        before = date.fromisoformat(day)
        previous_day = amounts.get(str(before - timedelta(days=1)), money(0))
        previous_week = amounts.get(str(before - timedelta(days=7)), money(0))
        rows[(day,)] = {
            "outbound_amount_dod": ratio(amount - previous_day, previous_day),
            "outbound_amount_wow": ratio(amount - previous_week, previous_week),
        }
    return rows


def _outbound_amounts(erp: ErpSnapshot) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """Confirmed amount and promotion (大促) amount per hour of the outbound time."""
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    promoted: dict[str, Decimal] = defaultdict(Decimal)
    for document in erp.outbound:
        if document["status"] != CONFIRMED:
            continue
        hour = hour_of(document.get("io_date"), document["modified"])
        amounts[hour] += money(document["pay_amount"])
        if "大促" in str(document.get("labels") or ""):
            promoted[hour] += money(document["pay_amount"])
    return amounts, promoted


def outbound_forecast(erp: ErpSnapshot) -> Rows:
    """The model (the forecast itself is the model's: what is checked here is that the
    warehouse feeds it the right eight weeks of hours and serves what it said)."""
    from warehouse.forecast import model

    amounts, promoted = _outbound_amounts(erp)
    start = datetime.combine(erp.today - timedelta(days=56), datetime.min.time())
    hours = [(start + timedelta(hours=n)).strftime("%Y-%m-%d %H:00:00") for n in range(56 * 24)]
    series = [float(amounts.get(hour, 0)) for hour in hours]
    flags = [series[n] > 0 and float(promoted.get(hour, 0)) > 0.5 * series[n]
             for n, hour in enumerate(hours)]  # fmt: skip
    forecast = model.forecast_hourly(series, flags)
    return {(hour,): {"outbound_forecast_amount": value}
            for hour, value in enumerate(forecast.values)}  # fmt: skip


def outbound_forecast_daily(erp: ErpSnapshot) -> Rows:
    """Per shop with any outbound document in the 16 weeks before today: 30 days."""
    from warehouse.forecast import model

    first = erp.today - timedelta(days=112)
    amounts: dict[int, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    promoted: dict[int, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for document in erp.outbound:
        day = date.fromisoformat(hour_of(document.get("io_date"), document["modified"])[:10])
        if not first <= day < erp.today:
            continue
        shop = int(document["shop_id"])
        amounts[shop][day] += money(0)  # the shop has a row, even with nothing confirmed
        if document["status"] == CONFIRMED:
            amounts[shop][day] += money(document["pay_amount"])
            if "大促" in str(document.get("labels") or ""):
                promoted[shop][day] += money(document["pay_amount"])
    rows: Rows = {}
    days = [first + timedelta(days=n) for n in range(112)]
    for shop, by_day in amounts.items():
        series = [float(by_day.get(day, 0)) for day in days]
        flags = [series[n] > 0 and float(promoted[shop].get(day, 0)) > 0.5 * series[n]
                 for n, day in enumerate(days)]  # fmt: skip
        forecast = model.forecast_daily(series, flags, 30)
        for step, value in enumerate(forecast.values):
            rows[(str(erp.today + timedelta(days=step)), shop)] = {
                "outbound_forecast_daily_amount": value
            }
    return rows


def outbound_backlog(erp: ErpSnapshot, now: datetime) -> Rows:
    groups: dict[tuple[Any, ...], list[datetime]] = defaultdict(list)
    for document in erp.outbound:
        if document["status"] in PENDING:
            shop_id = int(document["shop_id"])
            key = (shop_id, erp.shop_name(document), erp.owner(shop_id))
            created = erp_time(document.get("created") or document["modified"])
            assert created is not None
            groups[key].append(created)
    return {key: {"outbound_pending_documents": len(times),
                  "outbound_pending_age_hours": int((now - min(times)).total_seconds()) / 3600}
            for key, times in groups.items()}  # fmt: skip


def _confirmed_items(erp: ErpSnapshot) -> Iterable[tuple[str, dict[str, Any], dict[str, Any]]]:
    for document in erp.outbound:
        if document["status"] == CONFIRMED:
            day = day_of(document.get("io_date"), document["modified"])
            for item in document.get("items") or []:
                yield day, document, item


def outbound_item_daily(erp: ErpSnapshot) -> Rows:
    rows: Rows = {}
    for day, document, item in _confirmed_items(erp):
        shop_id = int(document["shop_id"])
        key = (day, shop_id, erp.platform(shop_id), erp.owner(shop_id))
        _sum_into(rows.setdefault(key, {}), outbound_units=int(item["qty"]),
                  outbound_item_amount=money(item["sale_amount"]))  # fmt: skip
    for values in rows.values():
        values["outbound_avg_unit_price"] = ratio(
            values["outbound_item_amount"], values["outbound_units"]
        )
    return rows


def outbound_sku_daily(erp: ErpSnapshot) -> Rows:
    rows: Rows = {}
    for day, _, item in _confirmed_items(erp):
        sku = erp.sku_by_id.get(str(item["sku_id"]), {})
        key = (day, str(item["sku_id"]), str(sku.get("name") or item.get("name") or ""),
               str(sku.get("category") or ""))  # fmt: skip
        _sum_into(rows.setdefault(key, {}), outbound_sku_amount=money(item["sale_amount"]))
    by_day: dict[str, list[Decimal]] = defaultdict(list)
    for key, values in rows.items():
        by_day[key[0]].append(values["outbound_sku_amount"])
    for key, values in rows.items():
        values["outbound_sku_rank"] = 1 + sum(
            a > values["outbound_sku_amount"] for a in by_day[key[0]]
        )
    return rows


# --- after-sale and finance ----------------------------------------------------------------


def _refund_day(refund: dict[str, Any]) -> str:
    return day_of(refund.get("as_date"), refund["modified"])


def aftersale_daily(erp: ErpSnapshot) -> Rows:
    rows: Rows = {}
    for refund in erp.refunds:
        shop_id = int(refund["shop_id"])
        key = (_refund_day(refund), shop_id, erp.platform(shop_id), erp.owner(shop_id))
        values = rows.setdefault(key, {"aftersale_documents": 0,
                                       "aftersale_refund_amount": money(0),
                                       "_handling": []})  # fmt: skip
        values["aftersale_documents"] += 1
        if refund["status"] == CONFIRMED:
            values["aftersale_refund_amount"] += money(refund["refund"])
            asked, done = erp_time(refund.get("as_date")), erp_time(refund.get("confirm_date"))
            if asked and done:
                values["_handling"].append(int((done - asked).total_seconds()))
    for values in rows.values():
        handling = values.pop("_handling")
        values["aftersale_handling_hours"] = ratio(sum(handling), len(handling) * 3600)
    return rows


def aftersale_mix(erp: ErpSnapshot, metric: str, attribute: str) -> Rows:
    counts: Counter[tuple[str, str]] = Counter()
    per_day: Counter[str] = Counter()
    for refund in erp.refunds:
        if attribute == "status_label":
            value = REFUND_STATUS_LABELS.get(refund["status"], refund["status"])
        else:
            value = str(refund.get(attribute) or "")
        counts[(_refund_day(refund), value)] += 1
        per_day[_refund_day(refund)] += 1
    return {key: {metric: ratio(count, per_day[key[0]])} for key, count in counts.items()}


def _outbound_by_day_shop(erp: ErpSnapshot) -> dict[tuple[str, int], dict[str, Any]]:
    totals: dict[tuple[str, int], dict[str, Any]] = {}
    for document in erp.outbound:
        key = (day_of(document.get("io_date"), document["modified"]), int(document["shop_id"]))
        entry = totals.setdefault(key, {"documents": 0, "pay": money(0), "free": money(0),
                                        "freight": money(0), "fee": Decimal(0)})  # fmt: skip
        if document["status"] == CONFIRMED:
            pay = money(document["pay_amount"])
            entry["documents"] += 1
            entry["pay"] += pay
            entry["free"] += money(document["free_amount"])
            entry["freight"] += money(document["freight"])
            entry["fee"] += pay * erp.fee_rate(int(document["shop_id"]))
    return totals


def _refunds_by_day_shop(erp: ErpSnapshot) -> dict[tuple[str, int], dict[str, Any]]:
    totals: dict[tuple[str, int], dict[str, Any]] = {}
    for refund in erp.refunds:
        key = (_refund_day(refund), int(refund["shop_id"]))
        entry = totals.setdefault(key, {"documents": 0, "refund": money(0)})
        entry["documents"] += int(refund["status"] != "Cancelled")
        if refund["status"] == CONFIRMED:
            entry["refund"] += money(refund["refund"])
    return totals


def aftersale_rate(erp: ErpSnapshot) -> Rows:
    outbound, refunds = _outbound_by_day_shop(erp), _refunds_by_day_shop(erp)
    rows: Rows = {}
    for key in outbound.keys() | refunds.keys():
        out = outbound.get(key, {"documents": 0, "pay": money(0)})
        back = refunds.get(key, {"documents": 0, "refund": money(0)})
        rows[key] = {
            "aftersale_rate": ratio(back["documents"], out["documents"]),
            "aftersale_refund_amount_rate": ratio(back["refund"], out["pay"]),
        }
    return rows


def aftersale_sku(erp: ErpSnapshot) -> Rows:
    sold: dict[tuple[str, str], set[str]] = defaultdict(set)
    for day, document, item in _confirmed_items(erp):
        sold[(day, str(item["sku_id"]))].add(str(document["io_id"]))
    returned: dict[tuple[str, str], set[str]] = defaultdict(set)
    for refund in erp.refunds:
        if refund["status"] != "Cancelled":
            for item in refund.get("items") or []:
                returned[(_refund_day(refund), str(item["sku_id"]))].add(str(refund["as_id"]))
    return {key: {"aftersale_sku_rate": ratio(len(returned.get(key, ())), len(sold.get(key, ())))}
            for key in sold.keys() | returned.keys()}  # fmt: skip


def aftersale_returns(erp: ErpSnapshot) -> Rows:
    rows: Rows = {}
    for refund in erp.refunds:
        if refund["status"] == "Cancelled":
            continue
        key = (_refund_day(refund), int(refund["shop_id"]))
        for item in refund.get("items") or []:
            _sum_into(rows.setdefault(key, {}),
                      aftersale_returned_units=int(item.get("r_qty") or 0),
                      _defective=int(item.get("defective_qty") or 0))  # fmt: skip
    for values in rows.values():
        values["aftersale_defective_return_rate"] = ratio(
            values.pop("_defective"), values["aftersale_returned_units"]
        )
    return rows


def aftersale_received(erp: ErpSnapshot) -> Rows:
    asked = {str(r["as_id"]): erp_time(r.get("as_date")) for r in erp.refunds}
    rows: Rows = {}
    for receipt in erp.received:
        key = (day_of(receipt.get("io_date"), receipt["modified"]), int(receipt["shop_id"]))
        as_date = asked.get(str(receipt.get("as_id") or ""))
        received_at = erp_time(receipt.get("io_date"))
        on_time = bool(
            as_date and received_at and (received_at - as_date).total_seconds() <= 7 * 86400
        )
        _sum_into(rows.setdefault(key, {}),
                  aftersale_received_units=sum(int(i["qty"]) for i in receipt.get("items") or []),
                  _on_time=int(on_time), _with_refund=int(as_date is not None))  # fmt: skip
    for values in rows.values():
        values["aftersale_receipt_timeliness"] = ratio(
            values.pop("_on_time"), values.pop("_with_refund")
        )
    return rows


def finance_daily(erp: ErpSnapshot) -> Rows:
    outbound, refunds = _outbound_by_day_shop(erp), _refunds_by_day_shop(erp)
    rows: Rows = {}
    for key in outbound.keys() | refunds.keys():
        out = outbound.get(key, {"pay": money(0), "free": money(0), "freight": money(0),
                                 "fee": Decimal(0)})  # fmt: skip
        refund = refunds.get(key, {"refund": money(0)})["refund"]
        rows[key] = {
            "finance_gmv": out["pay"] + out["free"] - out["freight"],
            "finance_platform_fee": out["fee"],
            "finance_net_received": out["pay"] - out["fee"] - refund,
        }
    return rows


def expected_views(erp: ErpSnapshot, now: datetime) -> dict[str, Rows]:
    """Every metric view's expected rows, by view name."""
    return {
        "metric_inventory_warehouse": inventory_warehouse(erp),
        "metric_inventory_sku": inventory_sku(erp),
        "metric_inventory_overview": inventory_overview(erp),
        "metric_outbound_hourly": outbound_hourly(erp),
        "metric_outbound_daily": outbound_daily(erp),
        "metric_outbound_carrier_daily": outbound_carrier(erp),
        "metric_outbound_trend": outbound_trend(erp),
        "metric_outbound_forecast": outbound_forecast(erp),
        "metric_outbound_forecast_daily": outbound_forecast_daily(erp),
        "metric_outbound_backlog": outbound_backlog(erp, now),
        "metric_outbound_item_daily": outbound_item_daily(erp),
        "metric_outbound_sku_daily": outbound_sku_daily(erp),
        "metric_aftersale_daily": aftersale_daily(erp),
        "metric_aftersale_type_mix": aftersale_mix(erp, "aftersale_type_share", "type"),
        "metric_aftersale_reason_mix": aftersale_mix(
            erp, "aftersale_reason_share", "question_type"
        ),
        "metric_aftersale_status_mix": aftersale_mix(erp, "aftersale_status_share", "status_label"),
        "metric_aftersale_rate_daily": aftersale_rate(erp),
        "metric_aftersale_sku_daily": aftersale_sku(erp),
        "metric_aftersale_returns_daily": aftersale_returns(erp),
        "metric_aftersale_received_daily": aftersale_received(erp),
        "metric_finance_daily": finance_daily(erp),
    }
