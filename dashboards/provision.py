"""Create or update the ClickHouse connection, datasets, charts and big screens in Superset.

Idempotent: every object is looked up by its natural key first (database name,
dataset table name, chart name, dashboard slug) and updated in place, so running it
again changes nothing but the definitions. Chart metrics are sent as SQL metrics with
zh-CN labels, so both the screen and :func:`chart_data` speak the labels in the YAML.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from common.settings import Settings
from dashboards.assets_spec import (
    ASSETS_DIR,
    CHART_ID_REFERENCE,
    Assets,
    ChartSpec,
    DashboardSpec,
    DatasetSpec,
    load_assets,
)
from dashboards.bundle import import_bundle, load_bundle
from dashboards.catalogue_datasets import catalogue_datasets
from dashboards.shop_owner_access import AccessResult, provision_shop_owners
from dashboards.superset_client import JsonObject, SupersetApiError, SupersetClient
from dashboards.superset_payloads import (
    chart_form_data,
    chart_query_context,
    dashboard_layout,
    markdown_text,
)

_COLUMN_FIELDS = (
    "id",
    "column_name",
    "type",
    "verbose_name",
    "description",
    "expression",
    "filterable",
    "groupby",
    "is_active",
    "is_dttm",
    "python_date_format",
    "extra",
    "advanced_data_type",
)
_METRIC_FIELDS = (
    "id",
    "metric_name",
    "expression",
    "verbose_name",
    "description",
    "d3format",
    "metric_type",
    "warning_text",
    "extra",
)


@dataclass
class ProvisionResult:
    database_id: int
    dataset_ids: dict[str, int] = field(default_factory=dict)
    dashboard_ids: dict[str, int] = field(default_factory=dict)  # by slug
    chart_ids: dict[str, int] = field(default_factory=dict)  # by chart name
    access: AccessResult | None = None


def provision(
    settings: Settings,
    assets_dir: Path = ASSETS_DIR,
    client: SupersetClient | None = None,
    bundle_dir: Path | None = None,
) -> ProvisionResult:
    """Make Superset match the repo: connection and theme; the exported bundle if there is
    one (dashboards.bundle); the specs' datasets and screens the bundle does not hold; the
    catalogue's saved metrics; then the shop owners' logins, role and RLS rule."""
    assets = load_assets(assets_dir)
    bundle = load_bundle(bundle_dir or assets_dir / "bundle")
    client = client or SupersetClient.login(settings.superset)
    result = ProvisionResult(database_id=ensure_database(client, settings))
    theme_id = ensure_theme(client, load_theme(assets_dir))
    in_bundle: set[str] = set()
    if bundle is not None:
        import_bundle(client, settings, result.database_id, bundle)
        in_bundle = bundle.dataset_names - set(catalogue_datasets())  # the catalogue wins
    for name, dataset in assets.datasets.items():
        result.dataset_ids[name] = (
            existing_dataset_id(client, result.database_id, dataset)
            if name in in_bundle
            else ensure_dataset(client, result.database_id, dataset)
        )
    for board in assets.dashboards:
        if bundle is not None and board.slug in bundle.dashboard_slugs:
            continue
        dashboard_id, chart_ids = ensure_dashboard(
            client, board, assets, result.dataset_ids, theme_id
        )
        result.dashboard_ids[board.slug] = dashboard_id
        result.chart_ids.update(chart_ids)
    for slug in sorted(bundle.dashboard_slugs if bundle else ()):
        dashboard_id, chart_ids = settle_imported_dashboard(client, slug, theme_id)
        result.dashboard_ids[slug] = dashboard_id
        result.chart_ids.update(chart_ids)
    result.access = provision_shop_owners(
        client, settings, assets, result.dataset_ids, sheet_owners(settings)
    )
    return result


def sheet_owners(settings: Settings) -> list[str]:
    """Owners in the shop sheet, as the warehouse's ``shop_access`` has them now."""
    from warehouse.access import owners
    from warehouse.client import connect

    client = connect(settings.clickhouse)
    try:
        return sorted(owners(client))
    finally:
        client.close()


def ensure_database(client: SupersetClient, settings: Settings) -> int:
    payload: JsonObject = {
        "database_name": settings.superset.database_name,
        "sqlalchemy_uri": settings.clickhouse.sqlalchemy_uri(),
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_dml": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_file_upload": False,
        "extra": json.dumps(
            {
                "allows_virtual_table_explore": True,
                "cost_estimate_enabled": False,
                "metadata_cache_timeout": {},
                "engine_params": {},
            }
        ),
    }
    found = client.find("database", database_name=payload["database_name"])
    if found:
        database_id = int(found[0]["id"])
        client.put(f"/api/v1/database/{database_id}", payload)
        return database_id
    return int(client.post("/api/v1/database/", payload)["id"])


def load_theme(assets_dir: Path = ASSETS_DIR) -> JsonObject:
    """The wall screens' theme: ``themes/big_screen.yaml`` (name + Ant Design tokens)."""
    return dict(yaml.safe_load((assets_dir / "themes" / "big_screen.yaml").read_text("utf-8")))


def ensure_theme(client: SupersetClient, theme: JsonObject) -> int:
    """Create the theme, or leave it as a Superset user last edited it (a theme is the
    one piece of the screens people are invited to tune in the UI)."""
    found = client.find("theme", theme_name=theme["theme_name"])
    if found:
        return int(found[0]["id"])
    payload = {"theme_name": theme["theme_name"],
               "json_data": json.dumps(theme["json_data"], ensure_ascii=False)}  # fmt: skip
    return int(client.post("/api/v1/theme/", payload)["id"])


def _find_datasets(client: SupersetClient, database_id: int, spec: DatasetSpec) -> list[JsonObject]:
    return [
        row
        for row in client.find("dataset", table_name=spec.table_name)
        if row["database"]["id"] == database_id and row.get("schema") == spec.schema_name
    ]


def existing_dataset_id(client: SupersetClient, database_id: int, spec: DatasetSpec) -> int:
    found = _find_datasets(client, database_id, spec)
    if not found:
        raise LookupError(f"dataset {spec.table_name!r} is not in Superset")
    return int(found[0]["id"])


def settle_imported_dashboard(
    client: SupersetClient, slug: str, theme_id: int
) -> tuple[int, dict[str, int]]:
    """After an import: markdown links point at this Superset's chart ids, and a screen
    without a theme gets the wall theme. Returns the dashboard's id and its charts' ids."""
    dashboard = client.get(f"/api/v1/dashboard/{slug}")["result"]
    charts = client.get(f"/api/v1/dashboard/{slug}/charts")["result"]
    chart_ids = {str(chart["slice_name"]): int(chart["id"]) for chart in charts}
    layout = json.loads(dashboard["position_json"] or "{}")
    for node in layout.values():
        if not (isinstance(node, dict) and node.get("type") == "MARKDOWN"):
            continue
        meta = node.setdefault("meta", {})
        for name in CHART_ID_REFERENCE.findall(str(meta.get("code", ""))):
            if name not in chart_ids:
                chart_ids[name] = int(client.find("chart", slice_name=name)[0]["id"])
        meta["code"] = markdown_text(str(meta.get("code", "")), chart_ids)
    position = json.dumps(layout, ensure_ascii=False)
    update: JsonObject = {"position_json": position}
    if not (dashboard.get("theme") or {}).get("id"):
        update["theme_id"] = theme_id
    client.put(f"/api/v1/dashboard/{dashboard['id']}", update)
    return int(dashboard["id"]), chart_ids


def ensure_dataset(client: SupersetClient, database_id: int, spec: DatasetSpec) -> int:
    """The dataset (virtual over the spec's SQL, or physical on a table or view of its
    name), with zh-CN column labels and saved metrics."""
    found = _find_datasets(client, database_id, spec)
    if found:
        dataset_id = int(found[0]["id"])
        if spec.sql is not None:
            client.put(f"/api/v1/dataset/{dataset_id}", {"sql": spec.sql})
        client.put(f"/api/v1/dataset/{dataset_id}/refresh", {})  # sync columns with the source
    else:
        dataset_id = int(
            client.post(
                "/api/v1/dataset/",
                {
                    "database": database_id,
                    "schema": spec.schema_name,
                    "table_name": spec.table_name,
                }
                | ({"sql": spec.sql} if spec.sql is not None else {}),
            )["id"]
        )
    current = client.get(f"/api/v1/dataset/{dataset_id}")["result"]
    client.put(
        f"/api/v1/dataset/{dataset_id}",
        {
            "description": spec.description,
            "main_dttm_col": spec.main_dttm_col,
            "cache_timeout": spec.cache_timeout,
            "columns": _labelled_columns(current["columns"], spec),
            "metrics": _merged_metrics(current["metrics"], spec),
        },
    )
    return dataset_id


def _labelled_columns(columns: list[JsonObject], spec: DatasetSpec) -> list[JsonObject]:
    out = []
    for column in columns:
        row = {key: column[key] for key in _COLUMN_FIELDS if column.get(key) is not None}
        name = column["column_name"]
        if name in spec.columns:
            row["verbose_name"] = spec.columns[name]
        if name == spec.main_dttm_col:
            row["is_dttm"] = True
        out.append(row)
    return out


def _merged_metrics(metrics: list[JsonObject], spec: DatasetSpec) -> list[JsonObject]:
    """Our metrics (updated in place by name) plus any metric someone added by hand."""
    existing = {metric["metric_name"]: metric for metric in metrics}
    out = []
    for name, metric in spec.metrics.items():
        row: JsonObject = {
            "metric_name": name,
            "expression": metric.expression,
            "verbose_name": metric.label,
            "description": metric.description,
            "d3format": metric.d3format,
        }
        if name in existing:
            row["id"] = existing[name]["id"]
        out.append(row)
    for name, by_hand in existing.items():
        if name not in spec.metrics:
            out.append({k: by_hand[k] for k in _METRIC_FIELDS if by_hand.get(k) is not None})
    return out


def chart_description(chart: ChartSpec, dataset: DatasetSpec) -> str:
    """What the chart's info icon says: its own text, else which metrics (and, for the
    catalogue's, which catalogue metric) each number is."""
    if chart.description:
        return chart.description
    return ";".join(
        f"{dataset.metrics[name].label}:{dataset.metrics[name].description or name}"
        for name in chart.metric_names
    )


def ensure_dashboard(
    client: SupersetClient,
    board: DashboardSpec,
    assets: Assets,
    dataset_ids: dict[str, int],
    theme_id: int | None = None,
) -> tuple[int, dict[str, int]]:
    """The screen by slug, its charts by name, then the layout that places them."""
    try:
        dashboard_id = int(client.get(f"/api/v1/dashboard/{board.slug}")["result"]["id"])
    except SupersetApiError as error:
        if "-> 404" not in str(error):
            raise
        dashboard_id = int(
            client.post(
                "/api/v1/dashboard/",
                {"dashboard_title": board.title, "slug": board.slug, "published": True},
            )["id"]
        )
    chart_ids: dict[str, int] = {}
    chart_uuids: dict[str, str] = {}
    for chart in board.charts:
        dataset_id = dataset_ids[chart.dataset]
        form = chart_form_data(chart, assets.datasets[chart.dataset], dataset_id)
        payload: JsonObject = {
            "slice_name": chart.name,
            "viz_type": chart.viz_type,
            "datasource_id": dataset_id,
            "datasource_type": "table",
            "params": json.dumps(form, ensure_ascii=False),
            "query_context": json.dumps(
                chart_query_context(chart, form, dataset_id), ensure_ascii=False
            ),
            "description": chart_description(chart, assets.datasets[chart.dataset]),
            "dashboards": [dashboard_id],
        }
        found = client.find("chart", slice_name=chart.name)
        if not found:  # created here; the list row then gives its UUID
            client.post("/api/v1/chart/", payload)
            found = client.find("chart", slice_name=chart.name)
        else:
            client.put(f"/api/v1/chart/{found[0]['id']}", payload)
        chart_ids[chart.name] = int(found[0]["id"])
        chart_uuids[chart.name] = str(found[0]["uuid"])
    client.put(
        f"/api/v1/dashboard/{dashboard_id}",
        {
            "dashboard_title": board.title,
            "slug": board.slug,
            "published": True,
            "css": board.css,
            "theme_id": theme_id,
            "position_json": json.dumps(
                dashboard_layout(board, chart_ids, chart_uuids), ensure_ascii=False
            ),
            "json_metadata": json.dumps(
                {
                    "refresh_frequency": board.refresh_seconds,
                    "timed_refresh_immune_slices": [],
                    "expanded_slices": {},
                    "label_colors": {},
                    "color_scheme": "supersetColors",
                    "cross_filters_enabled": False,
                    "native_filter_configuration": [],
                }
            ),
        },
    )
    return dashboard_id, chart_ids


def chart_data(
    settings: Settings,
    chart_name: str,
    force: bool = True,
    client: SupersetClient | None = None,
    labels_client: SupersetClient | None = None,
) -> list[dict[str, Any]]:
    """Rows of a saved chart, as its saved query context computes them.

    ``force`` bypasses Superset's result cache so the rows are current. Metric keys are
    the zh-CN labels of the assets; dimension columns are relabelled with the dataset's
    zh-CN column labels (``category`` -> ``类目``), read through ``labels_client`` when
    ``client`` is a viewer who may run the chart but not read datasets (a shop owner).
    """
    client = client or SupersetClient.login(settings.superset)
    found = client.find("chart", slice_name=chart_name)
    if not found:
        raise LookupError(f"no chart named {chart_name!r}")
    chart_id = int(found[0]["id"])
    body = client.get(
        f"/api/v1/chart/{chart_id}/data/", format="json", type="full", force=str(force).lower()
    )
    rows: list[dict[str, Any]] = [row for query in body["result"] for row in query["data"]]
    chart = (labels_client or client).get(f"/api/v1/chart/{chart_id}")["result"]
    form = json.loads(chart["params"] or "{}")
    dataset_id = int(str(form.get("datasource", "0__table")).split("__")[0])
    if not dataset_id:
        return rows
    columns = (labels_client or client).get(f"/api/v1/dataset/{dataset_id}")["result"]["columns"]
    labels = {c["column_name"]: c["verbose_name"] for c in columns if c.get("verbose_name")}
    return [{labels.get(key, key): value for key, value in row.items()} for row in rows]
