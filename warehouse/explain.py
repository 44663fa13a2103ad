""" "Why did it change": a day's outbound amount against a base day, split by contributor.

For day D and base B (the day before: day-over-day; 7 days before: week-over-week), each
member of a dimension (a shop, a platform, a SKU category) contributes
``amount(D) - amount(B)`` of its own rows; the contributions of one dimension add up to
the total change exactly, and ``share`` is each one's part of that total.

Every split explains the same total: the catalogue's outbound amount (``outbound_amount``,
pay_amount of confirmed documents by the day of io_date, GMT+8). Shop and platform read it
from the DWS serving table. A category exists only on items, so each document's pay_amount
is allocated to its items in proportion to their sale_amount (equally when every line is
free), rounded to 0.0001 by cumulative differences so a document's shares add up to its
pay_amount exactly; a confirmed document without item rows shows as ``(无商品明细)``.
The category split reads the two days' documents and items from DWD with FINAL: it is an
on-demand question (the CLI, the daily push), not a wall-screen query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

Comparison = Literal["dod", "wow"]
BASE_OFFSET_DAYS = {"dod": 1, "wow": 7}
DIMENSIONS = ("shop", "platform", "category")
NO_ITEMS = "(无商品明细)"
NO_CATEGORY = "(未分类)"
AMOUNT_NOTE = (
    "出库金额 = 已出库单据 pay_amount(按出库日期);类目拆分按商品行 sale_amount 比例分摊单据金额"
)

_BY_DOCUMENT = """
SELECT '{dimension}' AS dimension, {member} AS member,
       sumIf(pay_amount, toDate(hour) = {{base:Date}}) AS base_amount,
       sumIf(pay_amount, toDate(hour) = {{day:Date}}) AS amount
FROM dws_sale_out_hourly
WHERE toDate(hour) IN ({{day:Date}}, {{base:Date}})
GROUP BY {key}"""

# Documents of the two days, and their item lines with each line's allocation weight:
# ``upto`` is the running weight up to and including the line, ``total`` the document's.
_BY_CATEGORY = f"""
SELECT 'category' AS dimension, member,
       sumIf(allocated, day = {{base:Date}}) AS base_amount,
       sumIf(allocated, day = {{day:Date}}) AS amount
FROM (
    SELECT documents.day AS day,
           if(empty(lines.io_id), '{NO_ITEMS}',
              if(empty(lines.category), '{NO_CATEGORY}', lines.category)) AS member,
           if(empty(lines.io_id), documents.pay_amount,
              toDecimal128(round(documents.pay_amount * lines.upto / lines.total, 4)
                - round(documents.pay_amount * (lines.upto - lines.weight) / lines.total, 4), 4))
             AS allocated
    FROM (
        SELECT io_id, toDate(ifNull(io_date, modified)) AS day,
               toDecimal128(pay_amount, 4) AS pay_amount
        FROM dwd_sale_out FINAL
        WHERE status = 'Confirmed'
          AND toDate(ifNull(io_date, modified)) IN ({{day:Date}}, {{base:Date}})
    ) AS documents
    LEFT JOIN (
        SELECT io_id, category, weight,
               sum(weight) OVER (PARTITION BY io_id ORDER BY ioi_id
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS upto,
               sum(weight) OVER (PARTITION BY io_id) AS total
        FROM (
            SELECT io_id, ioi_id, category,
                   if(sum(sale) OVER (PARTITION BY io_id) > 0, sale, toDecimal128(1, 4)) AS weight
            FROM (
                SELECT io_id, ioi_id, category, toDecimal128(sale_amount, 4) AS sale
                FROM dwd_sale_out_item FINAL
                WHERE io_id IN (
                    SELECT io_id FROM dwd_sale_out FINAL
                    WHERE status = 'Confirmed'
                      AND toDate(ifNull(io_date, modified)) IN ({{day:Date}}, {{base:Date}}))
            )
        )
    ) AS lines ON lines.io_id = documents.io_id
)
GROUP BY member"""

CONTRIBUTION_SQL = f"""
SELECT dimension, member, base_amount, amount, amount - base_amount AS change,
       toFloat64(amount - base_amount)
         / nullIf(toFloat64(sum(amount - base_amount) OVER (PARTITION BY dimension)), 0) AS share
FROM (
{
    _BY_DOCUMENT.format(
        dimension="shop", key="shop_id", member="concat(toString(shop_id), ' ', any(shop_name))"
    )
}
UNION ALL
{_BY_DOCUMENT.format(dimension="platform", key="platform", member="platform")}
UNION ALL
{_BY_CATEGORY}
)
ORDER BY dimension, abs(change) DESC, member
SETTINGS prefer_column_name_to_alias = 1, do_not_merge_across_partitions_select_final = 1"""


@dataclass(frozen=True)
class Contribution:
    dimension: str  # shop, platform or category
    member: str
    base_amount: Decimal
    amount: Decimal
    change: Decimal
    share: float | None  # of the dimension's total change; None when that total is 0


def base_day(day: date, comparison: Comparison) -> date:
    return day - timedelta(days=BASE_OFFSET_DAYS[comparison])


def contributions(client: Any, day: date, comparison: Comparison = "dod") -> list[Contribution]:
    """Every member's contribution to the change of ``day`` against its base day."""
    result = client.query(
        CONTRIBUTION_SQL, parameters={"day": day, "base": base_day(day, comparison)}
    )
    return [Contribution(**row) for row in result.named_results()]


def render(day: date, comparison: Comparison, rows: list[Contribution], top: int = 5) -> str:
    """A short text report: per dimension, the total change and the biggest contributors."""
    base = base_day(day, comparison)
    lines = [f"outbound amount {day} vs {base} ({'day' if comparison == 'dod' else 'week'} over "
             f"{'day' if comparison == 'dod' else 'week'})", AMOUNT_NOTE]  # fmt: skip
    for dimension in DIMENSIONS:
        members = [row for row in rows if row.dimension == dimension]
        if not members:
            continue
        total = sum((row.change for row in members), Decimal(0))
        before = sum((row.base_amount for row in members), Decimal(0))
        lines.append(f"\nby {dimension}: {before:,.2f} -> {before + total:,.2f} ({total:+,.2f})")
        for row in members[:top]:
            share = "   n/a" if row.share is None else f"{row.share:6.1%}"
            lines.append(f"  {row.member:<28} {row.change:+14,.2f}  {share}")
    return "\n".join(lines)
