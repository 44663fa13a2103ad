"""docs/metrics.md, rendered from the catalogue (``erpbi warehouse metrics --write-doc``)."""

from __future__ import annotations

from pathlib import Path

from warehouse.metrics.build import view_sql
from warehouse.metrics.catalogue import METRICS, metric_views, metrics_of
from warehouse.metrics.model import Family

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"

_HEADER = """# Metric reference

Generated from `warehouse/metrics/catalogue.py` by `erpbi warehouse metrics --write-doc`;
do not edit by hand (a test fails when this file and the catalogue differ).

Every metric is a column of a view in the `erp` database. Views read only the DWS serving
tables, which refreshable materialized views rebuild from the DWD tables *with FINAL*
every 10-60 s (migration `0003_dws_serving_layer.sql`): dashboards never run FINAL or
argMax on a large table, and every answer equals what FINAL gives at the last refresh.
The item x SKU tables are views over a slice of documents created this month and last
(rebuilt every 60 s) and one of older documents (rebuilt hourly; `0005`).
Rates are fractions (0.05 = 5 %) and NULL when their denominator is 0. Days and hours
are GMT+8 (Asia/Shanghai).
"""


def render() -> str:
    lines = [_HEADER, f"{len(METRICS)} metrics in {len(metric_views())} views.", ""]
    for family in Family:
        members = [item for item in METRICS if item.family is family]
        lines += [f"## {family.label} {family.value} ({len(members)})", ""]
        lines += ["| metric | 名称 | unit | formula | grain | view | sources |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for item in members:
            lines.append(
                f"| `{item.name}` | {item.label} | {item.unit} | {item.formula} | {item.grain} "
                f"| `{item.view.name}` | {', '.join(item.view.sources)} |"
            )
        lines.append("")
    lines += ["## Views", ""]
    for view in metric_views():
        names = ", ".join(f"`{item.name}`" for item in metrics_of(view))
        lines += [f"### `{view.name}`", "", view.description, "", f"Metrics: {names}", "",
                  "```sql", view_sql(view), "```", ""]  # fmt: skip
    return "\n".join(lines)


def write(path: Path = DOC_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path
