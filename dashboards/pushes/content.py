"""What a push says: yesterday's KPIs against the day before and the same weekday a week
before, the top contributors of the change (the warehouse's explain-change), and one
written insight per analysis. Every number comes from the warehouse, read under the
push's own login when it is a shop owner's (the warehouse's row policies apply).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from common.settings import PushSettings
from dashboards.pushes.llm import rewrite
from warehouse import explain
from warehouse.analysis.analyses import run
from warehouse.analysis.report import signed_percent, yuan

WEEKDAYS = "一二三四五六日"
KPI_SQL = """
SELECT day, sum(outbound_amount) AS amount, sum(outbound_orders) AS orders
FROM metric_outbound_daily
WHERE day IN ({day:Date}, {dod:Date}, {wow:Date})
GROUP BY day
"""
TOP_CONTRIBUTORS = 3


@dataclass(frozen=True)
class Kpi:
    label: str
    metric: str  # the catalogue metric (warehouse/metrics/catalogue.py), or how it derives
    value: float
    dod: float | None  # change on the day before, as a fraction
    wow: float | None  # change on the same weekday a week before

    def text(self) -> str:
        if self.metric == "outbound_amount":
            shown = yuan(self.value)
        elif self.metric == "outbound_orders":
            shown = f"{self.value:,.0f} 单"
        else:
            shown = f"{self.value:,.2f} 元"
        changes = [
            f"{name} {signed_percent(change)}"
            for name, change in (("环比", self.dod), ("周同比", self.wow))
            if change is not None
        ]
        return f"{self.label} {shown}" + (f"({','.join(changes)})" if changes else "")


@dataclass
class PushContent:
    day: date
    kpis: list[Kpi] = field(default_factory=list)
    contributors: list[str] = field(default_factory=list)
    insights: list[tuple[str, str]] = field(default_factory=list)  # (title, text)

    def lines(self) -> list[str]:
        lines = [f"**{self.day:%m-%d} 周{WEEKDAYS[self.day.weekday()]} 核心指标**"]
        lines += [kpi.text() for kpi in self.kpis]
        if self.contributors:
            lines.append("**变化主要来自**")
            lines += self.contributors
        if self.insights:
            lines.append("**经营洞察**")
            lines += [f"【{title}】{text}" for title, text in self.insights]
        return lines


def _change(now: float, before: float | None) -> float | None:
    return None if not before else now / before - 1


def kpis(client: Any, day: date) -> list[Kpi]:
    dod, wow = day - timedelta(days=1), day - timedelta(days=7)
    result = client.query(KPI_SQL, parameters={"day": day, "dod": dod, "wow": wow})
    by_day = {row[0]: (float(row[1]), float(row[2])) for row in result.result_rows}
    amount, orders = by_day.get(day, (0.0, 0.0))
    amount_dod, orders_dod = by_day.get(dod, (0.0, 0.0))
    amount_wow, orders_wow = by_day.get(wow, (0.0, 0.0))

    def per_order(a: float, o: float) -> float | None:
        return a / o if o else None

    aov = per_order(amount, orders) or 0.0
    return [
        Kpi(
            "出库金额",
            "outbound_amount",
            amount,
            _change(amount, amount_dod),
            _change(amount, amount_wow),
        ),
        Kpi(
            "出库订单",
            "outbound_orders",
            orders,
            _change(orders, orders_dod),
            _change(orders, orders_wow),
        ),
        Kpi(
            "客单价",
            "outbound_avg_order_value",
            aov,
            _change(aov, per_order(amount_dod, orders_dod)),
            _change(aov, per_order(amount_wow, orders_wow)),
        ),
    ]


def contributors(client: Any, day: date, top: int = TOP_CONTRIBUTORS) -> list[str]:
    """The shops and categories that moved the day's amount most, against the day before."""
    rows = explain.contributions(client, day, "dod")
    lines = []
    for dimension, label in (("shop", "店铺"), ("category", "品类")):
        ranked = sorted(
            (r for r in rows if r.dimension == dimension and r.change),
            key=lambda r: abs(r.change),
            reverse=True,
        )[:top]
        if ranked:
            parts = [f"{_member(r.member)} {_signed_yuan(r.change)}" for r in ranked]
            lines.append(f"{label}:" + "、".join(parts))
    return lines


def _member(member: str) -> str:
    """``16000002 北极绒天猫旗舰店`` -> the shop's name."""
    head, _, name = member.partition(" ")
    return name if head.isdigit() and name else member


def _signed_yuan(change: Decimal) -> str:
    return ("+" if change > 0 else "-") + yuan(abs(change))


def insights(
    client: Any, day: date, names: tuple[str, ...], llm: PushSettings | None = None
) -> list[tuple[str, str]]:
    """One insight per analysis: the template's text, or the LLM's when it holds to the
    facts (``llm`` configured: see ``llm.py``)."""

    def query(sql: str, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in client.query(sql, parameters=parameters).result_rows]

    found = []
    for name in names:
        analysis = run(name, query, day)
        text = analysis.insight
        if llm is not None:
            text = rewrite(llm, analysis.title, analysis.insight, analysis.facts)
        found.append((analysis.title, text))
    return found


def build(client: Any, day: date, analyses: tuple[str, ...],
          llm: PushSettings | None = None) -> PushContent:  # fmt: skip
    return PushContent(day, kpis(client, day), contributors(client, day),
                       insights(client, day, analyses, llm))  # fmt: skip
