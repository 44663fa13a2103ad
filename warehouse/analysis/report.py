"""What an analysis returns, and how a person or a script reads it.

An :class:`Analysis` holds zh-CN column titles, rows, the *facts* its insight was written
from (every number in the insight is one of them, rounded as written) and the insight.
The daily push sends the insight; an LLM that rewrites it may only use those facts.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Analysis:
    name: str
    title: str
    period: tuple[date, date]  # first and last day the data covers
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    facts: dict[str, float | str] = field(default_factory=dict)
    insight: str = ""

    def as_json(self, with_insight: bool = True) -> str:
        data: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "period": [self.period[0].isoformat(), self.period[1].isoformat()],
            "columns": list(self.columns),
            "rows": [list(row) for row in self.rows],
            "facts": self.facts,
        }
        if with_insight:
            data["insight"] = self.insight
        return json.dumps(data, ensure_ascii=False, default=_plain, indent=2)

    def as_table(self, with_insight: bool = True) -> str:
        cells = [[_cell(value) for value in row] for row in self.rows]
        widths = [
            max([wcswidth(c) for c in column] + [wcswidth(title)])
            for title, column in zip(
                self.columns,
                zip(*cells, strict=True) if cells else [()] * len(self.columns),
                strict=True,
            )
        ]
        lines = [
            f"{self.title}  {self.period[0]:%Y-%m-%d} ~ {self.period[1]:%Y-%m-%d}",
            "  ".join(_pad(t, w) for t, w in zip(self.columns, widths, strict=True)),
        ]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)) for row in cells]
        if not cells:
            lines.append("(这段时间没有数据)")
        if with_insight and self.insight:
            lines += ["", self.insight]
        return "\n".join(lines)


def yuan(amount: float | Decimal) -> str:
    """An amount as a Chinese reader writes it: 万 from ten thousand, 亿 from 10^8."""
    value = float(amount)
    if abs(value) >= 1e8:
        return f"{value / 1e8:.2f} 亿元"
    if abs(value) >= 1e4:
        return f"{value / 1e4:.2f} 万元"
    return f"{value:,.2f} 元"


def percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def signed_percent(change: float) -> str:
    return f"{change * 100:+.1f}%"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def wcswidth(text: str) -> int:
    """Columns a terminal gives ``text``: two for each wide (CJK) character."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - wcswidth(text))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
