"""The simulator's ERP state: queries with the API's paging rules, and mutations.

Every inventory change takes the next ``ts`` (a database-wide rowversion) and sets
``modified`` to the simulator's Beijing clock. SKU changes only set ``modified``.
Parameter violations raise :class:`ParameterError` (answered as code 130).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from connectors.models import BEIJING, format_erp_time, parse_erp_time
from connectors.simulator.catalog import generate, inventory_quantities

INVENTORY_FIELDS = {
    "qty",
    "order_lock",
    "pick_lock",
    "virtual_qty",
    "purchase_qty",
    "return_qty",
    "in_qty",
    "defective_qty",
    "min_qty",
    "max_qty",
    "lock_qty",
    "allocate_qty",
    "sale_refund_qty",
}
SKU_FIELDS = {
    "i_id",
    "name",
    "short_name",
    "sale_price",
    "cost_price",
    "market_price",
    "properties_value",
    "color",
    "c_id",
    "category",
    "brand",
    "supplier_id",
    "supplier_name",
    "sku_code",
    "enabled",
}
MAX_WINDOW = timedelta(days=7)


class ParameterError(ValueError):
    """A request parameter breaks the API's rules (code 130)."""


def beijing_now() -> datetime:
    return datetime.now(BEIJING).replace(microsecond=0)


def _int_param(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ParameterError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _id_list(params: dict[str, Any], name: str, limit: int) -> list[str] | None:
    raw = params.get(name)
    if raw in (None, "", []):
        return None
    items = [str(item).strip() for item in (raw.split(",") if isinstance(raw, str) else raw)]
    items = [item for item in items if item]
    if len(items) > limit:
        raise ParameterError(f"{name} takes at most {limit} ids, got {len(items)}")
    return items


def _window(params: dict[str, Any], field: str = "modified") -> tuple[datetime, datetime] | None:
    begin, end = params.get(f"{field}_begin"), params.get(f"{field}_end")
    if not begin and not end:
        return None
    if not begin or not end:
        raise ParameterError(f"{field}_begin and {field}_end must be given together")
    try:
        window = parse_erp_time(str(begin)), parse_erp_time(str(end))
    except ValueError:
        raise ParameterError("times must be yyyy-MM-dd HH:mm:ss") from None
    if window[0] > window[1]:
        raise ParameterError(f"{field}_begin is after {field}_end")
    if window[1] - window[0] > MAX_WINDOW:
        raise ParameterError(f"{field}_begin and {field}_end are more than 7 days apart")
    return window


def _in_window(value: str, window: tuple[datetime, datetime] | None) -> bool:
    return window is None or window[0] <= parse_erp_time(value) <= window[1]


def _page(
    rows: list[dict[str, Any]], list_key: str, page_index: int, page_size: int, with_total: bool
) -> dict[str, Any]:
    start = (page_index - 1) * page_size
    data: dict[str, Any] = {
        "page_index": page_index,
        "page_size": page_size,
        "has_next": start + page_size < len(rows),
        list_key: rows[start : start + page_size],
    }
    if with_total:
        data["data_count"] = len(rows)
        data["page_count"] = (len(rows) + page_size - 1) // page_size
    return data


def _truthy(value: Any, default: bool = True) -> bool:
    if value is None:
        return default
    return str(value).lower() not in ("false", "0", "")


class ErpStore:
    """Thread-safe in-memory ERP for one merchant."""

    def __init__(
        self,
        seed: int,
        sku_count: int,
        warehouse_count: int,
        *,
        clock: Callable[[], datetime] = beijing_now,
        ts_inclusive: bool = False,
    ):
        self.clock = clock
        self.ts_inclusive = ts_inclusive
        self.lock = threading.RLock()
        catalog = generate(seed, sku_count, warehouse_count, clock())
        self.warehouses = catalog.warehouses
        self.shops = catalog.shops
        self.skus = catalog.skus
        self.inventory = catalog.inventory
        self.next_ts = catalog.next_ts
        self.rng = random.Random(seed + 1)

    # -- queries -------------------------------------------------------------------------

    @property
    def warehouse_ids(self) -> list[int]:
        return [int(row["wms_co_id"]) for row in self.warehouses]

    def _inventory_view(self, wms_co_id: int, row: dict[str, Any]) -> dict[str, Any]:
        sku = self.skus.get(row["sku_id"], {})
        return {**row, "i_id": sku.get("i_id"), "name": sku.get("name"), "wms_co_id": wms_co_id}

    def _summed_inventory(self) -> list[dict[str, Any]]:
        summed: dict[str, dict[str, Any]] = {}
        for (_, sku_id), row in self.inventory.items():
            total = summed.setdefault(
                sku_id,
                {
                    "sku_id": sku_id,
                    "ts": 0,
                    "modified": row["modified"],
                    **{name: 0 for name in INVENTORY_FIELDS},
                },
            )
            for name in INVENTORY_FIELDS:
                total[name] += row.get(name) or 0
            total["ts"] = max(total["ts"], row["ts"])
            total["modified"] = max(total["modified"], row["modified"])
        return [self._inventory_view(0, row) for row in summed.values()]

    def query_inventory(self, params: dict[str, Any]) -> dict[str, Any]:
        page_index = _int_param(params, "page_index", 1, 1, 10**6)
        page_size = _int_param(params, "page_size", 30, 1, 100)
        window = _window(params)
        sku_ids = _id_list(params, "sku_ids", 100)
        wms_co_id = _int_param(params, "wms_co_id", 0, 0, 2**62)
        start_ts = params.get("ts")
        cursor = _int_param(params, "ts", 0, 0, 2**63) if start_ts not in (None, "") else None
        with self.lock:
            if wms_co_id == 0:
                rows = self._summed_inventory()
            else:
                rows = [
                    self._inventory_view(wms_co_id, row)
                    for (wid, _), row in self.inventory.items()
                    if wid == wms_co_id
                ]
        wanted = set(sku_ids) if sku_ids else None
        rows = [
            row
            for row in rows
            if (wanted is None or row["sku_id"] in wanted)
            and _in_window(row["modified"], window)
            and (
                cursor is None or row["ts"] > cursor or (self.ts_inclusive and row["ts"] == cursor)
            )
        ]
        rows.sort(key=lambda row: row["ts"])
        for row in rows:
            row.pop("wms_co_id", None)  # the API row has no warehouse id
        return _page(rows, "inventorys", page_index, page_size, _truthy(params.get("is_get_total")))

    def query_skus(self, params: dict[str, Any]) -> dict[str, Any]:
        page_index = _int_param(params, "page_index", 1, 1, 10**6)
        page_size = _int_param(params, "page_size", 30, 1, 50)
        window = _window(params)
        sku_ids = _id_list(params, "sku_ids", 20)
        date_field = str(params.get("date_field") or "modified")
        if date_field not in ("modified", "created"):
            raise ParameterError("date_field must be created or modified")
        wanted = set(sku_ids) if sku_ids else None
        with self.lock:
            rows = [
                dict(row)
                for row in self.skus.values()
                if (wanted is None or row["sku_id"] in wanted)
                and _in_window(row[date_field], window)
            ]
        rows.sort(key=lambda row: (row[date_field], row["sku_id"]))
        return _page(rows, "datas", page_index, page_size, True)

    def query_shops(self, params: dict[str, Any]) -> dict[str, Any]:
        page_index = _int_param(params, "page_index", 1, 1, 10**6)
        page_size = _int_param(params, "page_size", 30, 1, 100)
        wanted = _id_list(params, "shop_ids", 100)
        rows = [dict(row) for row in self.shops if wanted is None or str(row["shop_id"]) in wanted]
        return _page(rows, "datas", page_index, page_size, True)

    def query_warehouses(self, params: dict[str, Any]) -> dict[str, Any]:
        page_index = _int_param(params, "page_index", 1, 1, 10**6)
        page_size = _int_param(params, "page_size", 30, 1, 100)
        return _page([dict(row) for row in self.warehouses], "datas", page_index, page_size, True)

    # -- what the ERP has (for tests) ---------------------------------------------------

    def inventory_rows(self, wms_co_id: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                self._inventory_view(wid, row)
                for (wid, _), row in sorted(self.inventory.items())
                if wms_co_id is None or wid == wms_co_id
            ]

    def sku_rows(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(row) for _, row in sorted(self.skus.items())]

    def max_ts(self) -> int:
        with self.lock:
            return max((row["ts"] for row in self.inventory.values()), default=0)

    # -- mutations ------------------------------------------------------------------------

    def _bump(self, row: dict[str, Any]) -> None:
        row["ts"] = self.next_ts
        self.next_ts += self.rng.randint(1, 7)
        row["modified"] = format_erp_time(self.clock())

    def set_inventory(self, sku_id: str, wms_co_id: int, **fields: Any) -> dict[str, Any]:
        unknown = set(fields) - INVENTORY_FIELDS
        if unknown:
            raise ParameterError(f"unknown inventory fields: {sorted(unknown)}")
        with self.lock:
            if int(wms_co_id) not in self.warehouse_ids:
                raise KeyError(f"unknown wms_co_id {wms_co_id}")
            if sku_id not in self.skus:
                raise KeyError(f"unknown sku_id {sku_id}")
            key = (int(wms_co_id), sku_id)
            row = self.inventory.get(key) or {"sku_id": sku_id, **inventory_quantities(self.rng)}
            row.update({name: int(value) for name, value in fields.items()})
            self._bump(row)
            self.inventory[key] = row
            return self._inventory_view(int(wms_co_id), row)

    def update_sku(self, sku_id: str, **fields: Any) -> dict[str, Any]:
        unknown = set(fields) - SKU_FIELDS
        if unknown:
            raise ParameterError(f"unknown sku fields: {sorted(unknown)}")
        with self.lock:
            now = format_erp_time(self.clock())
            row = self.skus.get(sku_id)
            if row is None:
                autoid = max((r["autoid"] for r in self.skus.values()), default=0) + 1
                row = {
                    "sku_id": sku_id,
                    "i_id": sku_id.split("-")[0],
                    "name": sku_id,
                    "enabled": 1,
                    "autoid": autoid,
                    "created": now,
                }
                self.skus[sku_id] = row
            row.update(fields)
            row["modified"] = now
            return dict(row)

    def mutate_random(self, inventory_changes: int, sku_changes: int) -> dict[str, list[Any]]:
        """Random but seeded activity: stock moves and SKU edits (price, category)."""
        changed_inventory: list[dict[str, Any]] = []
        changed_skus: list[str] = []
        with self.lock:
            keys = list(self.inventory)
            for _ in range(inventory_changes):
                wms_co_id, sku_id = self.rng.choice(keys)
                row = self.inventory[(wms_co_id, sku_id)]
                delta = self.rng.choice([-3, -2, -1, -1, -1, 1, 5, 20])
                self.set_inventory(
                    sku_id,
                    wms_co_id,
                    qty=row["qty"] + delta,
                    order_lock=max(0, row.get("order_lock", 0) + self.rng.choice([-1, 0, 1])),
                )
                changed_inventory.append({"sku_id": sku_id, "wms_co_id": wms_co_id})
            sku_ids = list(self.skus)
            for _ in range(sku_changes):
                sku_id = self.rng.choice(sku_ids)
                price = round(
                    float(self.skus[sku_id].get("sale_price") or 10) * self.rng.uniform(0.9, 1.1), 1
                )
                self.update_sku(sku_id, sale_price=price)
                changed_skus.append(sku_id)
        return {"inventory": changed_inventory, "sku": changed_skus}

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "warehouses": [dict(row) for row in self.warehouses],
                "sku_count": len(self.skus),
                "inventory_rows": len(self.inventory),
                "max_ts": self.max_ts(),
                "next_ts": self.next_ts,
            }


def rows_by_key(
    rows: Iterable[dict[str, Any]], *fields: str
) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(row[name] for name in fields): row for row in rows}
