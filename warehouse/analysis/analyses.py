"""The five analyses of the daily push and of `erpbi analyze`, each a warehouse query and a
zh-CN insight written from a template over the facts it found.

Every window ends on ``day`` (by default yesterday, Asia/Shanghai: a complete day), so a
push at 08:30 and a person asking later the same day read the same numbers.

- ``top-sellers``: SKUs by outbound amount over ``days`` (7), with their share of all;
- ``affinity``: products bought together in one confirmed outbound document (``days`` 30),
  with support, confidence and lift (how much likelier together than by chance);
- ``inventory-status``: SKUs by stock available in all warehouses, Critical <= 50 /
  Low <= 200 / Normal, with the best sellers among each;
- ``customer-tiers``: shops in ABC tiers by their share of the outbound amount (``days``
  30; the ERP's documents carry no buyer), with the change on the period before;
- ``seasonal``: the weekday profile and the busiest hour over ``days`` (56), and the last
  half of the window against the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from warehouse.analysis.report import Analysis, percent, signed_percent, yuan

Query = Callable[[str, dict[str, Any]], list[tuple[Any, ...]]]
CRITICAL_AT_MOST, LOW_AT_MOST = 50, 200
TIER_A_SHARE, TIER_B_SHARE = 0.70, 0.90  # cumulative share of the amount
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
MIN_TOGETHER = 5  # a pair seen fewer times says nothing
LIFT_WORTH_SAYING = 1.2  # together this much more often than chance is worth a bundle


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    default_days: int
    run: Callable[[Query, date, int, int], Analysis]


def window(day: date, days: int) -> tuple[date, date]:
    return day - timedelta(days=days - 1), day


# -- top sellers ---------------------------------------------------------------------------
TOP_SELLERS_SQL = """
SELECT sku_id, any(sku_name) AS name, any(category) AS sku_category,
       sum(units) AS units_sold, sum(amount) AS amount_sold,
       amount_sold / (SELECT sum(amount) FROM dws_sale_out_item_daily_all
                      WHERE day BETWEEN {start:Date} AND {end:Date}) AS share
FROM dws_sale_out_item_daily_all
WHERE day BETWEEN {start:Date} AND {end:Date}
GROUP BY sku_id ORDER BY amount_sold DESC, sku_id LIMIT {limit:UInt32}
"""


def top_sellers(query: Query, day: date, days: int, limit: int) -> Analysis:
    start, end = window(day, days)
    rows = query(TOP_SELLERS_SQL, {"start": start, "end": end, "limit": limit})
    table = [
        (rank, sku, name, category, int(units), float(amount), percent(float(share or 0)))
        for rank, (sku, name, category, units, amount, share) in enumerate(rows, 1)
    ]
    facts: dict[str, float | str] = {"days": days}
    insight = f"近 {days} 天没有出库销售。"
    if rows:
        sku, name, _category, units, amount, share = rows[0]
        top_share = sum(float(r[5] or 0) for r in rows)
        facts.update(
            top1_sku=sku,
            top1_name=name,
            top1_units=int(units),
            top1_amount=yuan(amount),
            top1_share=percent(float(share or 0)),
            top_count=len(rows),
            top_share=percent(top_share),
        )
        insight = (
            f"近 {days} 天销售额最高的是{name}({sku}),售出 {int(units)} 件,"
            f"{yuan(amount)},占全部 {percent(float(share or 0))};"
            f"前 {len(rows)} 名合计占 {percent(top_share)}。"
        )
    return Analysis(
        "top-sellers",
        "畅销商品",
        (start, end),
        ("排名", "SKU", "商品", "品类", "销量(件)", "销售额(元)", "占比"),
        table,
        facts,
        insight,
    )


# -- items bought together -------------------------------------------------------------------
AFFINITY_SQL = """
WITH docs AS (
    SELECT io_id, arraySort(groupUniqArray(i_id)) AS items
    FROM dwd_sale_out_item FINAL
    WHERE status = 'Confirmed' AND toDate(io_date) BETWEEN {start:Date} AND {end:Date}
    GROUP BY io_id
),
singles AS (SELECT item, count() AS docs_with FROM docs ARRAY JOIN items AS item GROUP BY item),
pairs AS (
    SELECT pair.1 AS a, pair.2 AS b, count() AS together
    FROM docs
    ARRAY JOIN arrayFlatten(arrayMap(i -> arrayMap(j -> (items[i], items[j]),
                                                   range(i + 1, length(items) + 1)),
                                     range(1, length(items) + 1))) AS pair
    GROUP BY a, b HAVING together >= {min_together:UInt32}
),
names AS (SELECT i_id, any(short_name) AS name FROM dim_sku FINAL GROUP BY i_id)
SELECT p.a, na.name, p.b, nb.name, p.together,
       p.together / (SELECT count() FROM docs) AS support,
       p.together / sa.docs_with AS confidence,
       p.together * (SELECT count() FROM docs) / (sa.docs_with * sb.docs_with) AS lift,
       (SELECT countIf(length(items) > 1) / count() FROM docs) AS multi_share
FROM pairs AS p
INNER JOIN singles AS sa ON sa.item = p.a
INNER JOIN singles AS sb ON sb.item = p.b
LEFT JOIN names AS na ON na.i_id = p.a
LEFT JOIN names AS nb ON nb.i_id = p.b
ORDER BY lift DESC, p.together DESC, p.a, p.b LIMIT {limit:UInt32}
"""


def affinity(query: Query, day: date, days: int, limit: int) -> Analysis:
    start, end = window(day, days)
    rows = query(
        AFFINITY_SQL, {"start": start, "end": end, "limit": limit, "min_together": MIN_TOGETHER}
    )
    table = [
        (
            f"{name_a}({a})",
            f"{name_b}({b})",
            int(together),
            percent(float(support)),
            percent(float(confidence)),
            round(float(lift), 2),
        )
        for a, name_a, b, name_b, together, support, confidence, lift, _ in rows
    ]
    facts: dict[str, float | str] = {"days": days}
    insight = f"近 {days} 天没有哪两件商品在同一出库单里出现 {MIN_TOGETHER} 次以上。"
    if rows:
        a, name_a, b, name_b, together, _support, confidence, lift, multi = rows[0]
        facts.update(
            pair_a=name_a,
            pair_b=name_b,
            together=int(together),
            confidence=percent(float(confidence)),
            lift=round(float(lift), 2),
            multi_share=percent(float(multi)),
        )
        insight = f"近 {days} 天 {percent(float(multi))} 的出库单含多件商品;"
        if float(lift) >= LIFT_WORTH_SAYING:
            insight += (
                f"{name_a}和{name_b}最常一起买(同单 {int(together)} 次,买前者的单中 "
                f"{percent(float(confidence))} 也有后者,是随机搭配的 {float(lift):.2f} "
                "倍),可考虑组合促销或相邻陈列。"
            )
        else:
            insight += (
                f"没有明显的搭配购买:同单 {MIN_TOGETHER} 次以上的商品对,"
                f"一起出现的频率最多是随机搭配的 {float(lift):.2f} 倍。"
            )
    return Analysis(
        "affinity",
        "关联购买",
        (start, end),
        ("商品A", "商品B", "同单次数", "支持度", "置信度(A→B)", "提升度"),
        table,
        facts,
        insight,
    )


# -- inventory status ------------------------------------------------------------------------
INVENTORY_STATUS_SQL = """
WITH stock AS (
    SELECT sku_id, any(sku_name) AS name, sum(available_qty) AS available
    FROM dws_inventory_current GROUP BY sku_id
),
sold AS (
    SELECT sku_id, sum(units) AS units FROM dws_sale_out_item_daily_all
    WHERE day BETWEEN {start:Date} AND {end:Date} GROUP BY sku_id
)
SELECT multiIf(available <= {critical:Int64}, 'Critical', available <= {low:Int64}, 'Low',
               'Normal') AS status,
       count() AS skus, sum(available) AS units,
       arrayStringConcat(arraySlice(arrayMap(x -> x.2, arrayReverseSort(x -> x.1,
           groupArray((ifNull(sold.units, 0), name)))), 1, 3), '、') AS best_sellers,
       sumIf(1, ifNull(sold.units, 0) > 0) AS selling
FROM stock LEFT JOIN sold ON sold.sku_id = stock.sku_id
GROUP BY status ORDER BY indexOf(['Critical', 'Low', 'Normal'], status)
"""
STATUS_LABEL = {
    "Critical": "紧缺 Critical (<=50)",
    "Low": "偏低 Low (<=200)",
    "Normal": "正常 Normal",
}


def inventory_status(query: Query, day: date, days: int, _limit: int) -> Analysis:
    start, end = window(day, days)
    rows = query(
        INVENTORY_STATUS_SQL,
        {"start": start, "end": end, "critical": CRITICAL_AT_MOST, "low": LOW_AT_MOST},
    )
    total = sum(int(r[1]) for r in rows) or 1
    table = [
        (
            STATUS_LABEL[status],
            int(skus),
            percent(int(skus) / total),
            int(units),
            int(selling),
            best,
        )
        for status, skus, units, best, selling in rows
    ]
    counts = {status: (int(skus), int(selling), best) for status, skus, _, best, selling in rows}
    critical, critical_selling, critical_best = counts.get("Critical", (0, 0, ""))
    low = counts.get("Low", (0, 0, ""))[0]
    facts: dict[str, float | str] = {
        "skus": total,
        "critical": critical,
        "critical_share": percent(critical / total),
        "critical_selling": critical_selling,
        "low": low,
        "days": days,
    }
    insight = (
        f"共 {total} 个 SKU:紧缺(可用 <= {CRITICAL_AT_MOST}){critical} 个,"
        f"占 {percent(critical / total)},其中 {critical_selling} 个近 {days} 天仍有销量"
        + (f"(最畅销:{critical_best})" if critical_best else "")
        + f";偏低(<= {LOW_AT_MOST}){low} 个。"
    )
    return Analysis(
        "inventory-status",
        "库存状态",
        (start, end),
        ("状态", "SKU数", "占比", "可用库存合计", f"近{days}天有销量", "最畅销"),
        table,
        facts,
        insight,
    )


# -- shop tiers --------------------------------------------------------------------------------
SHOP_AMOUNTS_SQL = """
SELECT shop_id, any(shop_name), any(platform),
       sumIf(outbound_amount, day BETWEEN {start:Date} AND {end:Date}) AS amount,
       sumIf(outbound_amount, day BETWEEN {before_start:Date} AND {before_end:Date}) AS before,
       sumIf(outbound_orders, day BETWEEN {start:Date} AND {end:Date}) AS orders
FROM metric_outbound_daily
WHERE day BETWEEN {before_start:Date} AND {end:Date}
GROUP BY shop_id ORDER BY amount DESC, shop_id
"""


def customer_tiers(query: Query, day: date, days: int, _limit: int) -> Analysis:
    start, end = window(day, days)
    before_start, before_end = window(start - timedelta(days=1), days)
    rows = query(
        SHOP_AMOUNTS_SQL,
        {"start": start, "end": end, "before_start": before_start, "before_end": before_end},
    )
    total = sum(float(r[3]) for r in rows)
    if total <= 0:
        return Analysis("customer-tiers", "店铺分层(ABC)", (start, end), ("层级", "店铺"), [],
                        {"days": days}, f"近 {days} 天没有出库销售,无法分层。")  # fmt: skip
    table, running = [], 0.0
    tiers: dict[str, list[str]] = {"A": [], "B": [], "C": []}
    changes: list[tuple[float, str]] = []
    for shop_id, name, platform, amount, before, orders in rows:
        share_before = running / total
        running += float(amount)
        tier = "A" if share_before < TIER_A_SHARE else "B" if share_before < TIER_B_SHARE else "C"
        tiers[tier].append(name)
        change = float(amount) / float(before) - 1 if float(before) > 0 else None
        if change is not None:
            changes.append((change, name))
        table.append(
            (
                tier,
                str(shop_id),
                name,
                platform,
                int(orders),
                float(amount),
                percent(float(amount) / total),
                signed_percent(change) if change is not None else "-",
            )
        )
    a_share = sum(float(r[3]) for r, t in zip(rows, table, strict=True) if t[0] == "A") / total
    facts: dict[str, float | str] = {
        "shops": len(rows),
        "tier_a": len(tiers["A"]),
        "tier_a_share": percent(a_share),
        "days": days,
    }
    insight = (
        f"近 {days} 天 A 类店铺 {len(tiers['A'])} 家("
        f"{'、'.join(tiers['A'])})贡献 {percent(a_share)} 的出库金额"
    )
    if changes:
        best, worst = max(changes), min(changes)
        facts.update(
            fastest=best[1],
            fastest_change=signed_percent(best[0]),
            slowest=worst[1],
            slowest_change=signed_percent(worst[0]),
        )
        insight += (
            f";比前 {days} 天增长最快的是{best[1]}({signed_percent(best[0])}),"
            f"最慢的是{worst[1]}({signed_percent(worst[0])})"
        )
    return Analysis(
        "customer-tiers",
        "店铺分层(ABC)",
        (start, end),
        ("层级", "店铺ID", "店铺", "平台", "订单数", "出库金额(元)", "占比", "环比上期"),
        table,
        facts,
        insight + "。",
    )


# -- seasonal ----------------------------------------------------------------------------------
WEEKDAY_SQL = """
SELECT toDayOfWeek(day) AS weekday, count(DISTINCT day) AS days, sum(outbound_amount) AS amount,
       sumIf(outbound_amount, day > {middle:Date}) AS late,
       sumIf(outbound_amount, day <= {middle:Date}) AS early,
       uniqExactIf(day, day > {middle:Date}) AS late_days,
       uniqExactIf(day, day <= {middle:Date}) AS early_days
FROM metric_outbound_daily WHERE day BETWEEN {start:Date} AND {end:Date}
GROUP BY weekday ORDER BY weekday
"""
HOUR_SQL = """
SELECT toHour(hour) AS h, sum(outbound_hourly_amount) AS amount
FROM metric_outbound_hourly
WHERE toDate(hour) BETWEEN {start:Date} AND {end:Date}
GROUP BY h ORDER BY amount DESC
"""


def seasonal(query: Query, day: date, days: int, _limit: int) -> Analysis:
    start, end = window(day, days)
    middle = start + timedelta(days=days // 2 - 1)
    params = {"start": start, "end": end, "middle": middle}
    rows = query(WEEKDAY_SQL, params)
    hours = query(HOUR_SQL, params)
    per_day = {int(w): float(amount) / int(n) for w, n, amount, *_ in rows if int(n)}
    with_data = sum(int(r[1]) for r in rows)
    span = f"近 {days} 天" + (f"(有数据 {with_data} 天)" if 0 < with_data < days else "")
    mean = sum(per_day.values()) / len(per_day) if per_day else 0.0
    table = [
        (WEEKDAYS[w - 1], round(per_day[w], 2), round(per_day[w] / mean, 2) if mean else 0)
        for w in sorted(per_day)
    ]
    facts: dict[str, float | str] = {"days": days, "days_with_data": with_data}
    parts = [f"近 {days} 天没有出库。"]
    if per_day and mean:
        high, low = max(per_day, key=per_day.get), min(per_day, key=per_day.get)  # type: ignore[arg-type]
        early_days, late_days = sum(int(r[6]) for r in rows), sum(int(r[5]) for r in rows)
        early = sum(float(r[4]) for r in rows) / max(1, early_days)  # per day with data
        late = sum(float(r[3]) for r in rows) / max(1, late_days)
        facts.update(
            high_day=WEEKDAYS[high - 1],
            high_index=round(per_day[high] / mean, 2),
            low_day=WEEKDAYS[low - 1],
            low_index=round(per_day[low] / mean, 2),
        )
        parts = [
            f"{span}{WEEKDAYS[high - 1]}最旺(日均为平均的 "
            f"{per_day[high] / mean:.2f} 倍),{WEEKDAYS[low - 1]}最淡"
            f"({per_day[low] / mean:.2f} 倍)"
        ]
        if hours:
            total_hours = sum(float(a) for _, a in hours) or 1.0
            peak, amount = hours[0]
            facts.update(peak_hour=int(peak), peak_share=percent(float(amount) / total_hours))
            parts.append(f"一天中 {int(peak)} 点最忙(占 {percent(float(amount) / total_hours)})")
        if early > 0:
            facts.update(trend=signed_percent(late / early - 1))
            parts.append(f"后半段日均比前半段 {signed_percent(late / early - 1)}")
    return Analysis(
        "seasonal",
        "季节性趋势",
        (start, end),
        ("星期", "日均出库金额(元)", "指数"),
        table,
        facts,
        ";".join(parts).rstrip("。") + "。",
    )


ANALYSES: dict[str, Spec] = {
    spec.name: spec
    for spec in (
        Spec("top-sellers", "畅销商品", 7, top_sellers),
        Spec("affinity", "关联购买", 30, affinity),
        Spec("inventory-status", "库存状态", 7, inventory_status),
        Spec("customer-tiers", "店铺分层", 30, customer_tiers),
        Spec("seasonal", "季节性趋势", 56, seasonal),
    )
}


def run(name: str, query: Query, day: date, days: int | None = None, limit: int = 10) -> Analysis:
    spec = ANALYSES[name]
    return spec.run(query, day, days or spec.default_days, limit)
