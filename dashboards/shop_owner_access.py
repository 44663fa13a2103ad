"""Shop owners in Superset: their logins, one role, and the row-level security rule.

The shop sheet is the one source (the warehouse view ``shop_access``, owner -> shops):

- Every owner in the sheet who has a password in ``clickhouse.shop_owners`` gets a Superset
  login of the same name (the same password as their warehouse login) with the role
  :data:`ROLE`. Logins of owners no longer in the sheet are deactivated, not deleted, so
  their history (who changed what) stays.
- The role can read dashboards and charts (Superset's Gamma permissions) and exactly the
  datasets that are either split by shop (they have ``shop_id``) or hold no shop's data
  (inventory, freshness); merchant-wide totals by day or SKU are not granted. It has no
  SQL Lab permission.
- One RLS rule on every dataset with ``shop_id`` reads the sheet for the viewer at query
  time: ``shop_id IN ({{ viewer_shops() }})``, which Superset renders per query from
  ``shop_access`` (``superset_config._viewer_shops``). An owner moved to another shop in
  the sheet sees the new shop on the next query once the sheet has landed, before any
  re-provisioning, and never the old one: the rendered clause changes, and with it the
  cache keys of every cached result.

Superset's own connection mutator (``superset_config.DB_CONNECTION_MUTATOR``) runs an
owner's queries under their warehouse login, so the warehouse's per-shop filter is a
second wall behind this rule.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from common.settings import Settings
from dashboards.assets_spec import Assets, DatasetSpec
from dashboards.superset_client import JsonObject, SupersetClient, rison

LOG = logging.getLogger(__name__)
ROLE = "店铺负责人"
RLS_RULE = "店铺负责人只看自己的店铺"
SHOP_COLUMN = "shop_id"
# Datasets with no shop dimension whose rows are no shop's business data: stock is the
# merchant's, freshness is a time. Everything else without shop_id stays closed to owners.
SHOPLESS_READABLE_PREFIXES = ("dws_inventory", "metric_inventory", "inventory_",
                              "replenishment_plan", "serving_freshness")  # fmt: skip
# Gamma permissions an owner must not get even if a Superset version adds them there.
_CLOSED_VIEWS = ("SQL Lab", "SQLLab", "SqlLab", "Query", "SavedQuery", "TabStateView",
                 "TableSchemaView", "Database", "Dataset")  # fmt: skip


@dataclass
class AccessResult:
    role_id: int
    rule_id: int
    logins: list[str] = field(default_factory=list)  # active owner logins
    without_password: list[str] = field(default_factory=list)  # in the sheet, no login
    deactivated: list[str] = field(default_factory=list)
    shop_datasets: list[str] = field(default_factory=list)  # under the RLS rule
    readable_datasets: list[str] = field(default_factory=list)


def rls_clause() -> str:
    """Rendered per query by Superset's Jinja: the viewer's shops, from the sheet."""
    return f"{SHOP_COLUMN} IN ({{{{ viewer_shops() }}}})"


def has_shop(dataset: DatasetSpec) -> bool:
    return SHOP_COLUMN in dataset.columns


def owner_readable(name: str, dataset: DatasetSpec) -> bool:
    return has_shop(dataset) or name.startswith(SHOPLESS_READABLE_PREFIXES)


def _find_one(client: SupersetClient, resource: str, **equals: Any) -> JsonObject | None:
    rows = client.find(resource, **equals)
    return rows[0] if rows else None


def _ensure_role(client: SupersetClient, name: str) -> int:
    found = _find_one(client, "security/roles", name=name)
    if found:
        return int(found["id"])
    return int(client.post("/api/v1/security/roles/", {"name": name})["id"])


def _permission_views(client: SupersetClient) -> list[JsonObject]:
    rows: list[JsonObject] = []
    page = 0
    while True:
        batch = client.get("/api/v1/security/permissions-resources/",
                           q=f"(page:{page},page_size:100)")["result"]  # fmt: skip
        rows.extend(batch)
        if len(batch) < 100:
            return rows
        page += 1


def _role_permissions(client: SupersetClient, dataset_ids: Iterable[int]) -> list[int]:
    """Gamma's permissions without SQL Lab, plus read access to the given datasets."""
    gamma = _find_one(client, "security/roles", name="Gamma")
    if gamma is None:
        raise LookupError("Superset has no Gamma role; run `superset init`")
    permissions = client.get(f"/api/v1/security/roles/{gamma['id']}/permissions/")["result"]
    ids = [int(p["id"]) for p in permissions if p["view_menu_name"] not in _CLOSED_VIEWS
           and "sql" not in p["permission_name"].lower()]  # fmt: skip
    wanted = {f"(id:{dataset_id})" for dataset_id in dataset_ids}
    for row in _permission_views(client):
        view = str(row["view_menu"]["name"])
        if row["permission"]["name"] == "datasource_access" and view.endswith(tuple(wanted)):
            ids.append(int(row["id"]))
    return ids


def _ensure_logins(
    client: SupersetClient, role_id: int, owners: list[str], passwords: dict[str, str]
) -> tuple[list[str], list[str], list[str]]:
    active, without_password, deactivated = [], [], []
    for owner in owners:
        password = passwords.get(owner)
        if not password:
            without_password.append(owner)
            continue
        payload = {"username": owner, "first_name": owner, "last_name": "店铺负责人",
                   "email": f"{owner}@shop-owner.erpbi.invalid", "active": True,
                   "roles": [role_id], "password": password}  # fmt: skip
        found = _find_one(client, "security/users", username=owner)
        if found:
            client.put(f"/api/v1/security/users/{found['id']}", payload)
        else:
            client.post("/api/v1/security/users/", payload)
        active.append(owner)
    query = rison({"filters": [{"col": "roles", "opr": "rel_m_m", "value": role_id}],
                   "page_size": 100})  # fmt: skip
    for user in client.get("/api/v1/security/users/", q=query)["result"]:
        if user["username"] not in active and user.get("active"):
            client.put(f"/api/v1/security/users/{user['id']}", {"active": False})
            deactivated.append(str(user["username"]))
    return active, without_password, deactivated


def _ensure_rule(client: SupersetClient, role_id: int, table_ids: list[int], clause: str) -> int:
    payload = {"name": RLS_RULE, "filter_type": "Regular", "tables": table_ids,
               "roles": [role_id], "group_key": SHOP_COLUMN, "clause": clause,
               "description": "店铺负责人只看 shop_access(店铺表)中属于自己的店铺"}  # fmt: skip
    found = _find_one(client, "rowlevelsecurity", name=RLS_RULE)
    if found:
        client.put(f"/api/v1/rowlevelsecurity/{found['id']}", payload)
        return int(found["id"])
    return int(client.post("/api/v1/rowlevelsecurity/", payload)["id"])


def provision_shop_owners(
    client: SupersetClient,
    settings: Settings,
    assets: Assets,
    dataset_ids: dict[str, int],
    owners: list[str],
) -> AccessResult:
    """Role, RLS rule, then the logins: a login never exists before the rule that limits it."""
    role_id = _ensure_role(client, ROLE)
    shop = sorted(name for name, spec in assets.datasets.items() if has_shop(spec))
    readable = sorted(n for n, spec in assets.datasets.items() if owner_readable(n, spec))
    rule_id = _ensure_rule(client, role_id, [dataset_ids[n] for n in shop], rls_clause())
    client.post(f"/api/v1/security/roles/{role_id}/permissions",
                {"permission_view_menu_ids":
                 _role_permissions(client, [dataset_ids[n] for n in readable])})  # fmt: skip
    passwords = {o: s.get_secret_value() for o, s in settings.clickhouse.shop_owners.items()}
    active, without_password, deactivated = _ensure_logins(client, role_id, owners, passwords)
    if without_password:
        LOG.warning("shop owners without a password in clickhouse.shop_owners get no "
                    "Superset login: %s", ", ".join(without_password))  # fmt: skip
    return AccessResult(role_id, rule_id, active, without_password, deactivated, shop, readable)
