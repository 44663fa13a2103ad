""" "Why did it change": a day's outbound amount against a base day, split by contributor.

For day D and base B (the day before: day-over-day; 7 days before: week-over-week), each
member of a dimension (a shop, a platform, a SKU category) contributes
``amount(D) - amount(B)`` of its own rows; the contributions of one dimension add up to
the total change exactly, and ``share`` is each one's part of that total.

Shop and platform split the outbound amount (pay_amount of confirmed documents);
category splits the item amount (sale_amount of confirmed items), the only level where
a category exists. Both read the DWS serving tables, so no FINAL is involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

Comparison = Literal["dod", "wow"]
BASE_OFFSET_DAYS = {"dod": 1, "wow": 7}

_BY_DOCUMENT = """
SELECT '{dimension}' AS dimension, {member} AS member,
       sumIf(pay_amount, toDate(hour) = {{base:Date}}) AS base_amount,
       sumIf(pay_amount, toDate(hour) = {{day:Date}}) AS amount
FROM dws_sale_out_hourly
WHERE toDate(hour) IN ({{day:Date}}, {{base:Date}})
GROUP BY {key}"""

_BY_CATEGORY = """
SELECT 'category' AS dimension, category AS member,
       sumIf(amount, day = {base:Date}) AS base_amount,
       sumIf(amount, day = {day:Date}) AS amount
FROM dws_sale_out_item_daily
WHERE day IN ({day:Date}, {base:Date})
GROUP BY category"""

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
SETTINGS prefer_column_name_to_alias = 1"""


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
             f"{'day' if comparison == 'dod' else 'week'})"]  # fmt: skip
    for dimension in ("shop", "platform", "category"):
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
