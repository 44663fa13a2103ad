"""Typed models of the dashboards-as-code YAML in ``dashboards/assets/``.

``datasets/*.yaml`` define virtual datasets (SQL, zh-CN column labels, the metric
catalogue); ``dashboards/*.yaml`` define one big screen each and its charts, which refer
to datasets and metrics by name. Loading validates every reference, so a typo fails
before anything is sent to Superset.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, model_validator

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
CHART_ID_REFERENCE = re.compile(r"\{chart_id:([^}]+)\}")
# Screens for the data engineer, not the shops (pipeline health, 异常监控): none of their
# datasets is readable by a shop owner, so Superset does not even list them for one.
ENGINEER_SCREENS = frozenset({"ops-monitor"})


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MetricSpec(_Spec):
    label: str  # zh-CN; also the column name of the metric in chart data
    expression: str
    d3format: str = "SMART_NUMBER"
    description: str = ""


class DatasetSpec(_Spec):
    table_name: str
    schema_name: str = Field(alias="schema")
    sql: str | None  # None: a physical dataset (a table or view of that name)
    description: str = ""
    main_dttm_col: str | None = None
    cache_timeout: int | None = None
    columns: dict[str, str] = Field(default_factory=dict)  # column name -> zh-CN label
    metrics: dict[str, MetricSpec] = Field(default_factory=dict)


class FormatRule(_Spec):
    """Superset's conditional formatting: colour a cell (table) or number (big number)."""

    column: str | None = None  # table: a column name or a metric's label; big number: none
    operator: Literal["<", ">", "≤", "≥", "=", "≠"]
    value: float
    color: Literal["red", "amber", "green"] = "red"


class ChartSpec(_Spec):
    name: str  # unique across all screens: provisioning finds charts by name
    viz_type: Literal[
        "big_number_total", "table", "echarts_timeseries_bar", "echarts_timeseries_line",
        "pie", "country_map",
    ]  # fmt: skip
    dataset: str
    metric: str | None = None  # big_number_total, pie, country_map
    metrics: list[str] = Field(default_factory=list)  # table, bar
    groupby: list[str] = Field(default_factory=list)  # table (aggregated), pie, country_map
    columns: list[str] = Field(default_factory=list)  # table of rows as they are (no metrics)
    order_by: list[str] = Field(default_factory=list)  # rows table: "column" or "column desc"
    x_axis: str | None = None  # bar, line
    where: str = ""  # a SQL filter on the dataset's rows (e.g. today only)
    having: str = ""  # a SQL filter on the groups (e.g. a minimum volume)
    order_desc: bool = True  # bar and table: biggest first; false: along the x axis
    in_wan: bool = False  # amounts shown in 万元 (the metric / 10,000, label suffixed)
    timestamp: bool = False  # big number: the metric is epoch ms, shown as 月-日 时:分:秒
    formatting: list[FormatRule] = Field(default_factory=list)
    subheader: str = ""
    row_limit: int = 100
    description: str = ""
    row: int
    width: int = Field(ge=1, le=12)
    height: int = Field(ge=8)

    @property
    def metric_names(self) -> list[str]:
        return [self.metric] if self.metric else list(self.metrics)

    @property
    def is_row_table(self) -> bool:
        return self.viz_type == "table" and bool(self.columns)

    @model_validator(mode="after")
    def _check_shape(self) -> ChartSpec:
        single = ("big_number_total", "pie", "country_map")
        if self.viz_type in single and not self.metric:
            raise ValueError(f"chart {self.name!r}: {self.viz_type} needs `metric`")
        if self.viz_type not in single and not self.metrics and not self.is_row_table:
            raise ValueError(f"chart {self.name!r}: {self.viz_type} needs `metrics`")
        if self.viz_type in ("pie", "country_map") and len(self.groupby) != 1:
            raise ValueError(f"chart {self.name!r}: {self.viz_type} needs one `groupby` column")
        if self.viz_type.startswith("echarts_timeseries") and not self.x_axis:
            raise ValueError(f"chart {self.name!r}: {self.viz_type} needs `x_axis`")
        return self


class MarkdownSpec(_Spec):
    """A text block on the screen. ``{chart_id:NAME}`` becomes the id of chart NAME."""

    text: str
    row: int
    width: int = Field(ge=1, le=12)
    height: int = Field(ge=8)


class DashboardSpec(_Spec):
    title: str
    slug: str
    refresh_seconds: int = 30
    css: str = ""
    charts: list[ChartSpec]
    markdown: list[MarkdownSpec] = Field(default_factory=list)


class Assets(_Spec):
    datasets: dict[str, DatasetSpec]
    dashboards: list[DashboardSpec]

    @model_validator(mode="after")
    def _check_references(self) -> Assets:
        names = [chart.name for board in self.dashboards for chart in board.charts]
        duplicates = {name for name in names if names.count(name) > 1}
        if duplicates:
            raise ValueError(f"chart names must be unique, repeated: {sorted(duplicates)}")
        for board in self.dashboards:
            for chart in board.charts:
                dataset = self.datasets.get(chart.dataset)
                if dataset is None:
                    raise ValueError(f"chart {chart.name!r}: unknown dataset {chart.dataset!r}")
                missing = [m for m in chart.metric_names if m not in dataset.metrics]
                if missing:
                    raise ValueError(f"chart {chart.name!r}: unknown metrics {missing}")
                unknown = [c for c in chart.columns if c not in dataset.columns]
                if unknown:
                    raise ValueError(f"chart {chart.name!r}: unknown columns {unknown}")
            for block in board.markdown:
                for name in CHART_ID_REFERENCE.findall(block.text):
                    if name not in names:
                        raise ValueError(f"{board.slug}: markdown refers to no chart {name!r}")
        return self


def load_assets(assets_dir: Path = ASSETS_DIR) -> Assets:
    """The screens, the hand-written datasets, and one dataset per metric view of the
    catalogue (dashboards.catalogue_datasets); a file of the same name wins."""
    from dashboards.catalogue_datasets import catalogue_datasets

    datasets = catalogue_datasets()
    for path in sorted((assets_dir / "datasets").glob("*.yaml")):
        spec = DatasetSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        datasets[spec.table_name] = spec
    dashboards = [
        DashboardSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        for path in sorted((assets_dir / "dashboards").glob("*.yaml"))
    ]
    return Assets(datasets=datasets, dashboards=dashboards)
