"""Types of the metric catalogue: a metric view (grain + source) and a metric in it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Family(StrEnum):
    INVENTORY = "inventory"
    OUTBOUND = "outbound"
    AFTERSALE = "aftersale"
    FINANCE = "finance"

    @property
    def label(self) -> str:
        return {"inventory": "库存", "outbound": "出库", "aftersale": "售后", "finance": "财务"}[
            self.value
        ]


@dataclass(frozen=True)
class MetricView:
    """One warehouse view: its grain columns, what it reads, and the metrics it exposes.

    ``source`` is a FROM clause over DWS serving tables only (never a DWD table, so no
    FINAL is needed); ``grain`` maps each output column to the expression it groups by.
    ``sources`` names the tables the view reads, for the reference docs.
    """

    name: str
    description: str
    grain: tuple[tuple[str, str], ...]
    source: str
    sources: tuple[str, ...]
    where: str = ""

    @property
    def grain_columns(self) -> tuple[str, ...]:
        return tuple(column for column, _ in self.grain)


@dataclass(frozen=True)
class Metric:
    """One metric: defined here once; its SQL is ``expression`` aggregated at the view's grain."""

    name: str
    label: str
    family: Family
    view: MetricView
    expression: str
    formula: str
    unit: str

    @property
    def grain(self) -> str:
        return " x ".join(self.view.grain_columns) or "whole merchant"
