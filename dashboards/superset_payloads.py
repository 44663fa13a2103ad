"""What Superset stores for a chart and a dashboard, built from the asset specs.

``params`` (form data) is what the explore view would save and what the screen renders;
the query context is what ``/api/v1/chart/{id}/data/`` runs for API callers and pushes;
the position tree places charts on the 12-column grid. Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
from typing import Any

from dashboards.assets_spec import ChartSpec, DashboardSpec, DatasetSpec

JsonObject = dict[str, Any]


def _adhoc_metric(dataset: DatasetSpec, name: str) -> JsonObject:
    metric = dataset.metrics[name]
    return {
        "expressionType": "SQL",
        "sqlExpression": metric.expression,
        "label": metric.label,
        "hasCustomLabel": True,
        "optionName": f"metric_{name}",
    }


def _filters(chart: ChartSpec) -> list[JsonObject]:
    if not chart.where:
        return []
    return [{
        "expressionType": "SQL",
        "clause": "WHERE",
        "sqlExpression": chart.where,
        "filterOptionName": "filter_" + hashlib.sha1(chart.where.encode()).hexdigest()[:10],
    }]  # fmt: skip


def _orderby(chart: ChartSpec, metrics: list[Any]) -> list[Any]:
    """Lines run along their x axis; bars and tables put the biggest first."""
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
    metrics = [_adhoc_metric(dataset, name) for name in chart.metric_names]
    form: JsonObject = {
        "datasource": f"{dataset_id}__table",
        "viz_type": chart.viz_type,
        "adhoc_filters": _filters(chart),
        "row_limit": chart.row_limit,
    }
    if chart.viz_type == "big_number_total":
        form.update(
            metric=metrics[0],
            subheader=chart.subheader,
            header_font_size=0.5,
            subheader_font_size=0.15,
            y_axis_format=dataset.metrics[chart.metric_names[0]].d3format,
            time_format="smart_date",
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
            order_desc=True,
            server_page_length=20,
            show_cell_bars=True,
            color_pn=True,
            include_search=False,
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
    metrics = [form["metric"]] if chart.viz_type == "big_number_total" else form["metrics"]
    columns: list[Any] = []
    if chart.viz_type == "table":
        columns = list(chart.groupby)
    elif chart.viz_type.startswith("echarts_timeseries"):
        columns = [chart.x_axis]
    query: JsonObject = {
        "columns": columns,
        "metrics": metrics,
        "orderby": _orderby(chart, metrics) if columns else [],
        "filters": [],
        "extras": {"having": "", "where": f"({chart.where})" if chart.where else ""},
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


def dashboard_layout(board: DashboardSpec, chart_ids: dict[str, int]) -> JsonObject:
    """Superset's v2 position tree: ROOT > GRID > one ROW per ``row`` > CHARTs."""
    rows = sorted({chart.row for chart in board.charts})
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
        members = [chart for chart in board.charts if chart.row == row]
        layout[row_id] = {
            "type": "ROW",
            "id": row_id,
            "children": [f"CHART-{chart_ids[chart.name]}" for chart in members],
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
        for chart in members:
            chart_key = f"CHART-{chart_ids[chart.name]}"
            layout[chart_key] = {
                "type": "CHART",
                "id": chart_key,
                "children": [],
                "parents": ["ROOT_ID", "GRID_ID", row_id],
                "meta": {
                    "chartId": chart_ids[chart.name],
                    "sliceName": chart.name,
                    "width": chart.width,
                    "height": chart.height,
                },
            }
    return layout
