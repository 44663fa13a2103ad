"""What Superset stores for a chart and a dashboard, built from the asset specs.

``params`` (form data) is what the explore view would save and what the screen renders;
the query context is what ``/api/v1/chart/{id}/data/`` runs for API callers and pushes;
the position tree places charts on the 12-column grid. Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from dashboards.assets_spec import (
    CHART_ID_REFERENCE,
    ChartSpec,
    DashboardSpec,
    DatasetSpec,
    FormatRule,
)

JsonObject = dict[str, Any]
WAN = 10_000
# Superset 6's colour tokens: red = act now, amber = watch, green = fine (bi-notes.md).
RULE_COLORS = {"red": "colorError", "amber": "colorWarning", "green": "colorSuccess"}


def metric_label(chart: ChartSpec, dataset: DatasetSpec, name: str) -> str:
    label = dataset.metrics[name].label
    return f"{label}(万元)" if chart.in_wan else label


def _adhoc_metric(chart: ChartSpec, dataset: DatasetSpec, name: str) -> JsonObject:
    metric = dataset.metrics[name]
    expression = f"({metric.expression}) / {WAN}" if chart.in_wan else metric.expression
    return {
        "expressionType": "SQL",
        "sqlExpression": expression,
        "label": metric_label(chart, dataset, name),
        "hasCustomLabel": True,
        "optionName": f"metric_{name}",
    }


def _sql_filter(clause: str, sql: str) -> JsonObject:
    return {
        "expressionType": "SQL",
        "clause": clause,
        "sqlExpression": sql,
        "filterOptionName": "filter_" + hashlib.sha1(sql.encode()).hexdigest()[:10],
    }


def _filters(chart: ChartSpec) -> list[JsonObject]:
    where = [_sql_filter("WHERE", chart.where)] if chart.where else []
    return where + ([_sql_filter("HAVING", chart.having)] if chart.having else [])


def _formatting(chart: ChartSpec, dataset: DatasetSpec) -> list[JsonObject]:
    """Conditional formatting rules, each in one solid colour. A rule names a column or a
    metric of the chart; a big number's rules apply to its metric."""

    def column(rule: FormatRule) -> str:
        name = rule.column or chart.metric_names[0]
        return metric_label(chart, dataset, name) if name in dataset.metrics else name

    return [
        {"colorScheme": RULE_COLORS[rule.color], "operator": rule.operator,
         "targetValue": rule.value, "column": column(rule), "useGradient": False}
        for rule in chart.formatting
    ]  # fmt: skip


def _column_config(chart: ChartSpec, dataset: DatasetSpec) -> JsonObject:
    """A table shows each metric in the metric's own number format (ad-hoc metrics
    otherwise fall back to Superset's default, e.g. a rate as 0.0725 not 7.3%)."""
    return {
        metric_label(chart, dataset, name): {
            "d3NumberFormat": ",.2f" if chart.in_wan else dataset.metrics[name].d3format
        }
        for name in chart.metric_names
        if dataset.metrics[name].d3format != "SMART_NUMBER"
    }


def _order_pairs(chart: ChartSpec) -> list[tuple[str, bool]]:
    """A rows table's ``order_by``: ("cover_days", True) for "cover_days", False for "... desc"."""
    pairs = []
    for item in chart.order_by:
        column, _, direction = item.partition(" ")
        pairs.append((column, direction.strip().lower() != "desc"))
    return pairs


def _orderby(chart: ChartSpec, metrics: list[Any]) -> list[Any]:
    """Lines run along their x axis; bars and tables put the biggest first."""
    if chart.is_row_table:
        return [list(pair) for pair in _order_pairs(chart)]
    if chart.viz_type in ("table", "pie", "country_map"):
        return [[metrics[0], not chart.order_desc]]
    if chart.viz_type == "echarts_timeseries_line" or not chart.order_desc:
        return [[chart.x_axis, True]]
    return [[metrics[0], not chart.order_desc]]


def _x_axis_kind(chart: ChartSpec, dataset: DatasetSpec) -> JsonObject:
    """Days run on a time axis (labelled 月-日, one bar or point a day); anything else
    (a shop, an hour of the day) is a category, each value labelled as it is."""
    if chart.x_axis == dataset.main_dttm_col:
        return {"xAxisForceCategorical": False, "time_grain_sqla": "P1D",
                "x_axis_time_format": "%m-%d", "tooltipTimeFormat": "%Y-%m-%d"}  # fmt: skip
    return {"xAxisForceCategorical": True}


def chart_form_data(chart: ChartSpec, dataset: DatasetSpec, dataset_id: int) -> JsonObject:
    """The chart's ``params``: what the explore view would save for it."""
    metrics = [_adhoc_metric(chart, dataset, name) for name in chart.metric_names]
    form: JsonObject = {
        "datasource": f"{dataset_id}__table",
        "viz_type": chart.viz_type,
        "adhoc_filters": _filters(chart),
        "row_limit": chart.row_limit,
        "annotation_layers": [],  # as the explore view saves it (and an import adds it)
    }
    if chart.viz_type == "big_number_total":
        assert chart.metric is not None  # the spec requires one for a big number
        form.update(
            metric=metrics[0],
            subheader=chart.subheader,
            header_font_size=0.3 if chart.timestamp else 0.5,
            subheader_font_size=0.15,
            y_axis_format=",.2f" if chart.in_wan else dataset.metrics[chart.metric].d3format,
            time_format="%m-%d %H:%M:%S" if chart.timestamp else "smart_date",
            force_timestamp_formatting=chart.timestamp,
            conditional_formatting=_formatting(chart, dataset),
        )
    elif chart.viz_type == "pie":
        form.update(
            metric=metrics[0],
            groupby=chart.groupby,
            sort_by_metric=True,
            show_labels=True,
            label_type="percent",
            labels_outside=True,
            show_legend=True,
            legendOrientation="bottom",
            donut=True,
            number_format="SMART_NUMBER",
            date_format="smart_date",
        )
    elif chart.viz_type == "country_map":
        form.update(
            select_country="china",
            entity=chart.groupby[0],
            metric=metrics[0],
            number_format=",d",
            linear_color_scheme="superset_seq_1",
        )
    elif chart.is_row_table:  # rows as they are, e.g. a plan to download
        form.update(
            query_mode="raw",
            groupby=[],
            metrics=[],
            all_columns=chart.columns,
            order_by_cols=[
                json.dumps([column, asc], ensure_ascii=False) for column, asc in _order_pairs(chart)
            ],  # fmt: skip
            server_pagination=False,
            page_length=100,
            include_search=True,  # find one SKU among hundreds of rows
            show_cell_bars=False,
            conditional_formatting=_formatting(chart, dataset),
            table_timestamp_format="smart_date",
        )
    elif chart.viz_type == "table":
        form.update(
            query_mode="aggregate",
            groupby=chart.groupby,
            metrics=metrics,
            all_columns=[],
            percent_metrics=[],
            order_by_cols=[],
            timeseries_limit_metric=metrics[0],
            order_desc=chart.order_desc,
            server_page_length=20,
            show_cell_bars=not chart.formatting,
            column_config=_column_config(chart, dataset),
            color_pn=True,
            include_search=False,
            conditional_formatting=_formatting(chart, dataset),
            table_timestamp_format="smart_date",
        )
    elif chart.viz_type == "echarts_timeseries_line":  # one line per metric over the x axis
        form.update(
            x_axis=chart.x_axis,
            **_x_axis_kind(chart, dataset),
            metrics=metrics,
            groupby=[],
            x_axis_sort_asc=True,
            show_legend=True,
            legendOrientation="top",
            rich_tooltip=True,
            markerEnabled=True,
            markerSize=4,
            y_axis_format="SMART_NUMBER",
            zoomable=False,
        )
    else:  # echarts_timeseries_bar with a categorical x axis
        form.update(
            x_axis=chart.x_axis,
            metrics=metrics,
            groupby=[],
            orientation="vertical",
            # biggest first, or (order_desc: false) along the x axis, e.g. days in order
            x_axis_sort=metrics[0]["label"] if chart.order_desc else chart.x_axis,
            x_axis_sort_asc=not chart.order_desc,
            **_x_axis_kind(chart, dataset),
            show_value=True,
            show_legend=len(metrics) > 1,
            rich_tooltip=True,
            truncate_metric=True,
            xAxisLabelRotation=45,
            y_axis_format="SMART_NUMBER",
            zoomable=False,
        )
    return form


def chart_query_context(chart: ChartSpec, form: JsonObject, dataset_id: int) -> JsonObject:
    """The saved query context: what ``/api/v1/chart/{id}/data/`` runs (API, pushes)."""
    metrics = [form["metric"]] if "metric" in form else form["metrics"]
    columns: list[Any] = []
    if chart.is_row_table:
        columns = list(chart.columns)
    elif chart.viz_type in ("table", "pie", "country_map"):
        columns = list(chart.groupby)
    elif chart.viz_type.startswith("echarts_timeseries"):
        columns = [chart.x_axis]
    query: JsonObject = {
        "columns": columns,
        "metrics": metrics,
        "orderby": _orderby(chart, metrics) if columns else [],
        "filters": [],
        "extras": {
            "having": f"({chart.having})" if chart.having else "",
            "where": f"({chart.where})" if chart.where else "",
        },  # fmt: skip
        "row_limit": chart.row_limit,
        "series_limit": 0,
        "order_desc": True,
        "annotation_layers": [],
        "url_params": {},
        "custom_params": {},
        "custom_form_data": {},
    }
    return {
        "datasource": {"id": dataset_id, "type": "table"},
        "force": False,
        "queries": [query],
        "form_data": form,
        "result_format": "json",
        "result_type": "full",
    }


def markdown_text(text: str, chart_ids: dict[str, int]) -> str:
    """The block's text with every ``{chart_id:NAME}`` replaced by that chart's id."""
    return CHART_ID_REFERENCE.sub(lambda match: str(chart_ids[match.group(1)]), text)


def _place(layout: JsonObject, kind: str, key: str, parents: list[str], meta: JsonObject) -> str:
    """Add a leaf (a chart or a markdown block) to the layout; returns its key."""
    layout[key] = {"type": kind, "id": key, "children": [], "parents": parents, "meta": meta}
    return key


def dashboard_layout(
    board: DashboardSpec, chart_ids: dict[str, int], chart_uuids: dict[str, str] | None = None
) -> JsonObject:
    """Superset's v2 position tree: ROOT > GRID > one ROW per ``row`` > CHARTs, then the
    row's MARKDOWN blocks. A chart node carries its chart's UUID as the UI writes it: an
    export and import find charts by it (a node without one is exported twice)."""
    rows = sorted({chart.row for chart in board.charts} | {block.row for block in board.markdown})
    layout: JsonObject = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {
            "type": "GRID",
            "id": "GRID_ID",
            "children": [f"ROW-{row}" for row in rows],
            "parents": ["ROOT_ID"],
        },
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": board.title}},
    }
    for row in rows:
        row_id = f"ROW-{row}"
        parents = ["ROOT_ID", "GRID_ID", row_id]
        children: list[str] = []
        for chart in (chart for chart in board.charts if chart.row == row):
            meta = {"chartId": chart_ids[chart.name], "sliceName": chart.name,
                    "width": chart.width, "height": chart.height}  # fmt: skip
            if chart_uuids:
                meta["uuid"] = chart_uuids[chart.name]
            children.append(
                _place(layout, "CHART", f"CHART-{chart_ids[chart.name]}", parents, meta)
            )
        for index, block in enumerate(board.markdown):
            if block.row == row:
                meta = {"width": block.width, "height": block.height,
                        "code": markdown_text(block.text, chart_ids)}  # fmt: skip
                key = f"MARKDOWN-{board.slug}-{index}"
                children.append(_place(layout, "MARKDOWN", key, parents, meta))
        layout[row_id] = {
            "type": "ROW",
            "id": row_id,
            "children": children,
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
    return layout
