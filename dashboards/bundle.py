"""The screens as Superset's own asset bundle: what `erpbi dashboards export` writes and
`erpbi dashboards provision` imports.

A screen first comes from the hand-written specs in ``dashboards/assets/`` (datasets,
dashboards). Once somebody edits screens in Superset's UI, ``export`` writes Superset's
asset bundle (``GET /api/v1/assets/export/``) into ``dashboards/assets/bundle/``: the same
YAML files a Superset user exports and imports by hand (``metadata.yaml``,
``databases/``, ``datasets/``, ``charts/``, ``dashboards/``, ``themes/``), with stable
UUIDs. From then on ``provision`` imports that bundle (``POST /api/v1/assets/import/``,
which overwrites by UUID, so nothing is duplicated) and builds from the specs only the
screens and datasets the bundle does not hold. The metric catalogue stays the one
definition: its datasets' saved metrics are re-applied after every import.

What differs between two Supersets is rewritten on the way: the database's UUID and URI
(this machine's connection; the password travels in ``passwords``, never in a file), a
markdown link's chart id (``{chart_id:NAME}`` in the repo), and the export's timestamp.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from common.settings import Settings
from dashboards.assets_spec import ASSETS_DIR, CHART_ID_REFERENCE
from dashboards.superset_client import JsonObject, SupersetApiError, SupersetClient

BUNDLE_DIR = ASSETS_DIR / "bundle"
ROOT = "erpbi_screens"
CHART_LINK = re.compile(r"/api/v1/chart/(\d+)/")


@dataclass
class Bundle:
    """The bundle's YAML files by path inside the bundle (``charts/x.yaml`` -> content)."""

    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        return {path: body for path, body in self.files.items() if path.startswith(kind + "/")}

    @property
    def dashboard_slugs(self) -> set[str]:
        return {str(body["slug"]) for body in self.of_kind("dashboards").values()}

    @property
    def dataset_names(self) -> set[str]:
        return {str(body["table_name"]) for body in self.of_kind("datasets").values()}

    @property
    def chart_names(self) -> set[str]:
        return {str(body["slice_name"]) for body in self.of_kind("charts").values()}

    def unresolved(self) -> list[str]:
        """References that point nowhere: a chart's dataset or saved metric, a dashboard's
        chart, a dataset's database, a markdown link's chart."""
        uuids = {str(body.get("uuid")) for body in self.files.values()}
        saved_metrics = {
            str(body.get("uuid")): {str(m.get("metric_name")) for m in body.get("metrics") or []}
            for body in self.of_kind("datasets").values()
        }
        problems = []
        for path, body in self.of_kind("datasets").items():
            if str(body.get("database_uuid")) not in uuids:
                problems.append(f"{path}: database {body.get('database_uuid')}")
        for path, body in self.of_kind("charts").items():
            dataset = str(body.get("dataset_uuid"))
            if dataset not in uuids:
                problems.append(f"{path}: dataset {body.get('dataset_uuid')}")
            for name in _saved_metric_names(body.get("params") or {}):
                if name not in saved_metrics.get(dataset, set()):
                    problems.append(f"{path}: metric {name!r} is not a saved metric of its dataset")
        for path, body in self.of_kind("dashboards").items():
            for node in (body.get("position") or {}).values():
                if not isinstance(node, dict):
                    continue
                meta = node.get("meta") or {}
                if node.get("type") == "CHART" and str(meta.get("uuid")) not in uuids:
                    problems.append(f"{path}: chart {meta.get('sliceName')} {meta.get('uuid')}")
                for name in CHART_ID_REFERENCE.findall(str(meta.get("code", ""))):
                    if name not in self.chart_names:
                        problems.append(f"{path}: markdown links to no chart {name!r}")
        return problems


def _saved_metric_names(params: dict[str, Any]) -> list[str]:
    """Metrics a chart names by a dataset's saved metric (ad-hoc metrics are objects)."""
    named = [params.get("metric"), *(params.get("metrics") or [])]
    return [str(metric) for metric in named if isinstance(metric, str) and metric]


def load_bundle(folder: Path = BUNDLE_DIR) -> Bundle | None:
    """The bundle in ``folder``, or None when nobody has exported one."""
    if not (folder / "metadata.yaml").exists():
        return None
    files = {
        path.relative_to(folder).as_posix(): yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted(folder.rglob("*.yaml"))
    }
    return Bundle(files)


def _chart_names_by_id(client: SupersetClient) -> dict[int, str]:
    names: dict[int, str] = {}
    page = 0
    while True:
        query = f"(columns:!(id,slice_name),page:{page},page_size:100)"
        rows = client.get("/api/v1/chart/", q=query)["result"]
        names.update({int(row["id"]): str(row["slice_name"]) for row in rows})
        if len(rows) < 100:
            return names
        page += 1


def _markdown_ids_to_names(body: dict[str, Any], names: dict[int, str]) -> None:
    for node in (body.get("position") or {}).values():
        if isinstance(node, dict) and node.get("type") == "MARKDOWN":
            meta = node.setdefault("meta", {})
            meta["code"] = CHART_LINK.sub(
                lambda m: f"/api/v1/chart/{{chart_id:{names.get(int(m.group(1)), m.group(1))}}}/",
                str(meta.get("code", "")),
            )


def export_bundle(client: SupersetClient, folder: Path = BUNDLE_DIR) -> Bundle:
    """Every dashboard, chart, dataset, database and theme of Superset, as files in
    ``folder`` (replaced whole), ready to commit."""
    response = client.session.get(f"{client.base_url}/api/v1/assets/export/",
                                  timeout=client.timeout_seconds)  # fmt: skip
    if response.status_code != 200:
        raise SupersetApiError(f"GET /api/v1/assets/export/ -> {response.status_code}")
    names = _chart_names_by_id(client)
    bundle = Bundle()
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        for member in archive.namelist():
            if not member.endswith(".yaml"):
                continue
            inner = member.split("/", 1)[1]  # drop the export's dated root folder
            body = yaml.safe_load(archive.read(member).decode("utf-8"))
            if inner == "metadata.yaml":
                body.pop("timestamp", None)
            elif inner.startswith("dashboards/"):
                _markdown_ids_to_names(body, names)
            bundle.files[inner] = body
    if folder.exists():
        shutil.rmtree(folder)
    for inner, body in bundle.files.items():
        path = folder / inner
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(body, allow_unicode=True, sort_keys=True), "utf-8")
    return bundle


def _for_this_superset(bundle: Bundle, database: JsonObject, settings: Settings) -> Bundle:
    """The bundle pointing at this machine's warehouse connection."""
    files = json.loads(json.dumps(bundle.files))  # a deep copy
    uri = settings.clickhouse.sqlalchemy_uri(masked=True)
    for path, body in files.items():
        if path.startswith("databases/"):
            body.update(uuid=database["uuid"], sqlalchemy_uri=uri,
                        database_name=database["database_name"])  # fmt: skip
        elif path.startswith("datasets/"):
            body["database_uuid"] = database["uuid"]
    return Bundle(files)


def import_bundle(
    client: SupersetClient, settings: Settings, database_id: int, bundle: Bundle
) -> None:
    """Import (overwriting by UUID) into this Superset, then point markdown links at the
    charts' ids here."""
    problems = bundle.unresolved()
    if problems:
        raise ValueError("the bundle does not resolve: " + "; ".join(problems[:10]))
    database = client.get(f"/api/v1/database/{database_id}")["result"]
    if "uuid" not in database:
        connection = client.get(f"/api/v1/database/{database_id}/connection")["result"]
        database["uuid"] = connection["uuid"]
    local = _for_this_superset(bundle, database, settings)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as out:
        for inner, body in local.files.items():
            out.writestr(f"{ROOT}/{inner}", yaml.safe_dump(body, allow_unicode=True))
    password = settings.clickhouse.password.get_secret_value()
    passwords = {path: password for path in local.of_kind("databases")}
    response = client.session.post(
        f"{client.base_url}/api/v1/assets/import/",
        files={"bundle": ("bundle.zip", archive.getvalue(), "application/zip")},
        data={"passwords": json.dumps(passwords), "overwrite": "true"},
        timeout=max(client.timeout_seconds, 120),
    )  # fmt: skip
    if response.status_code != 200:
        raise SupersetApiError(
            f"POST /api/v1/assets/import/ -> {response.status_code}: {response.text[:2000]}"
        )
