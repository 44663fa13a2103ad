"""The simulator's ERP state: every stream's latest rows, the API queries, and mutations.

Every change takes the next ``ts`` (a database-wide rowversion, one counter for all
streams) and sets ``modified`` to the Beijing time of the change. SKU changes only set
``modified`` (the SKU API has no ts). Parameter violations raise
:class:`ParameterError` (answered as code 130). Orders, after-sales and their stock
moves are written by :mod:`erp_simulator.engine`.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from connectors.models import format_erp_time
from erp_simulator.catalog import generate, inventory_quantities
from erp_simulator.index import SortedKeys, TsIndex
from erp_simulator.params import (
    ParameterError,
    beijing_now,
    collect_page,
    cursor_param,
    id_list,
    in_window,
    int_param,
    page_data,
    truthy,
    window,
)
from erp_simulator.tables import (
    DOCUMENT_STREAMS,
    OUTBOUND,
    RECEIVED,
    REFUND,
    DocumentTable,
    public_row,
)

__all__ = ["ErpStore", "ParameterError", "beijing_now", "rows_by_key"]

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
INVENTORY_PATH = "/open/inventory/query"


class ErpStore:
    """Thread-safe in-memory ERP for one merchant (hold ``lock`` across multi-step edits)."""

    def __init__(
        self,
        seed: int,
        sku_count: int,
        warehouse_count: int,
        *,
        clock: Callable[[], datetime] = beijing_now,
        ts_inclusive: bool = False,
        quiet_seconds: float = 0.0,
        generated_at: datetime | None = None,
    ):
        self.clock = clock
        self.ts_inclusive = ts_inclusive
        self.lock = threading.RLock()
        moment = generated_at if generated_at is not None else clock()
        catalog = generate(seed, sku_count, warehouse_count, moment, quiet_seconds=quiet_seconds)
        self.warehouses = catalog.warehouses
        self.shops = catalog.shops
        self.skus = catalog.skus
        self.inventory = catalog.inventory
        self.next_ts = catalog.next_ts
        self.rng = random.Random(seed + 1)
        self.inventory_index: dict[int, TsIndex] = {wid: TsIndex() for wid in self.warehouse_ids}
        self.summed_index = TsIndex()
        for (wms_co_id, sku_id), row in self.inventory.items():  # catalog order is ts order
            self._index_inventory(wms_co_id, sku_id, row)
        self.tables = {spec.name: DocumentTable(spec) for spec in DOCUMENT_STREAMS}
        self.sku_order = {name: SortedKeys() for name in ("modified", "created")}
        for name, order in self.sku_order.items():
            order.load({sku_id: str(row[name]) for sku_id, row in self.skus.items()})
        self.routes: dict[str, Callable[..., dict[str, Any]]] = {
            INVENTORY_PATH: self.query_inventory,
            "/open/sku/query": self.query_skus,
            "/open/shops/query": self.query_shops,
            "/open/wms/partner/query": self.query_warehouses,
            **{spec.path: self._document_route(spec.name) for spec in DOCUMENT_STREAMS},
        }

    @property
    def warehouse_ids(self) -> list[int]:
        return [int(row["wms_co_id"]) for row in self.warehouses]

    @property
    def outbound(self) -> DocumentTable:
        return self.tables[OUTBOUND.name]

    @property
    def refunds(self) -> DocumentTable:
        return self.tables[REFUND.name]

    @property
    def received(self) -> DocumentTable:
        return self.tables[RECEIVED.name]

    # -- stamping ---------------------------------------------------------------------------

    def stamp(
        self, row: dict[str, Any], at: datetime | None = None, *, late_commit: bool = False
    ) -> None:
        """Give ``row`` the next rowversion and ``modified`` = ``at`` (default: now).

        ``late_commit``: the rowversion just above the row's own instead, as a write whose
        transaction committed long after its rowversion was taken: a ``ts`` cursor that
        already passed that value never returns it (the drift a reconciliation repairs).
        """
        if late_commit:
            row["ts"] = int(row["ts"]) + 1
        else:
            row["ts"] = self.next_ts
            self.next_ts += 1 + int(self.rng.random() * 7)  # gaps: other tables share it
        row["modified"] = format_erp_time(at if at is not None else self.clock())

    def _index_inventory(self, wms_co_id: int, sku_id: str, row: dict[str, Any]) -> None:
        self.inventory_index[wms_co_id].put(sku_id, row["ts"], row["modified"])
        self.summed_index.put(sku_id, row["ts"], row["modified"])

    # -- queries ----------------------------------------------------------------------------

    def _document_route(self, name: str) -> Callable[..., dict[str, Any]]:
        def route(params: dict[str, Any], overlap: int = 0) -> dict[str, Any]:
            with self.lock:
                return self.tables[name].query(
                    params, overlap=overlap, ts_inclusive=self.ts_inclusive
                )

        return route

    def _inventory_view(self, wms_co_id: int, sku_id: str) -> dict[str, Any]:
        if wms_co_id:
            row = dict(self.inventory[(wms_co_id, sku_id)])
        else:
            parts = [self.inventory[(wid, sku_id)] for wid in self.warehouse_ids
                     if (wid, sku_id) in self.inventory]  # fmt: skip
            row = {name: sum(part.get(name) or 0 for part in parts) for name in INVENTORY_FIELDS}
            row["sku_id"] = sku_id
            row["ts"] = max(part["ts"] for part in parts)
            row["modified"] = max(part["modified"] for part in parts)
        sku = self.skus.get(sku_id, {})
        return {**row, "i_id": sku.get("i_id"), "name": sku.get("name")}

    def query_inventory(self, params: dict[str, Any], overlap: int = 0) -> dict[str, Any]:
        page_index = int_param(params, "page_index", 1, 1, 10**6)
        page_size = int_param(params, "page_size", 30, 1, 100)
        bounds = window(params)
        sku_ids = id_list(params, "sku_ids", 100)
        wms_co_id = int_param(params, "wms_co_id", 0, 0, 2**62)
        cursor = cursor_param(params, "ts")
        with self.lock:
            index = self.summed_index if wms_co_id == 0 else self.inventory_index.get(wms_co_id)
            if index is None:
                raise ParameterError(f"unknown wms_co_id {wms_co_id}")
            wanted = set(sku_ids) if sku_ids else None

            def modified_of(sku_id: str) -> str:
                if wms_co_id:
                    return str(self.inventory[(wms_co_id, sku_id)]["modified"])
                parts = [self.inventory.get((wid, sku_id)) for wid in self.warehouse_ids]
                return max(str(part["modified"]) for part in parts if part is not None)

            def matches() -> Iterator[str]:
                start = bounds[0] if bounds else ""
                entries = index.after(cursor, inclusive=self.ts_inclusive, modified_from=start)
                keys = (str(key) for _, key in entries)
                if wanted is not None:
                    keys = (key for key in keys if key in wanted)
                if bounds is not None:
                    keys = (key for key in keys if in_window(modified_of(key), bounds))
                return keys

            with_total = truthy(params.get("is_get_total"))
            known = None
            if with_total and wanted is None and bounds is None:
                known = index.count_after(cursor, inclusive=self.ts_inclusive)
            keys, has_next, total = collect_page(
                matches(), page_index, page_size, with_total, overlap, known
            )
            if overlap and cursor is not None and page_index == 1:
                keys = [str(key) for _, key in index.last_before(cursor, overlap)] + keys
            rows = [self._inventory_view(wms_co_id, key) for key in keys]
        return page_data(rows, "inventorys", page_index, page_size, has_next, total)

    def query_skus(self, params: dict[str, Any], overlap: int = 0) -> dict[str, Any]:
        page_index = int_param(params, "page_index", 1, 1, 10**6)
        page_size = int_param(params, "page_size", 30, 1, 50)
        bounds = window(params)
        sku_ids = id_list(params, "sku_ids", 20)
        date_field = str(params.get("date_field") or "modified")
        if date_field not in ("modified", "created"):
            raise ParameterError("date_field must be created or modified")
        with self.lock:
            if sku_ids:
                found = (self.skus.get(sku_id) for sku_id in sku_ids)
                rows = [row for row in found if row is not None]
                rows = [row for row in rows if in_window(row[date_field], bounds)]
                rows.sort(key=lambda row: (row[date_field], row["sku_id"]))
                keys = [row["sku_id"] for row in rows]
            else:
                low, high = bounds if bounds is not None else (None, None)
                keys = self.sku_order[date_field].between(low, high)
            page, has_next, total = collect_page(iter(keys), page_index, page_size, True, overlap)
            rows = [dict(self.skus[sku_id]) for sku_id in page]
        return page_data(rows, "datas", page_index, page_size, has_next, total)

    def query_shops(self, params: dict[str, Any], overlap: int = 0) -> dict[str, Any]:
        page_index = int_param(params, "page_index", 1, 1, 10**6)
        page_size = int_param(params, "page_size", 30, 1, 100)
        wanted = id_list(params, "shop_ids", 100)
        rows = [dict(row) for row in self.shops if wanted is None or str(row["shop_id"]) in wanted]
        page, has_next, total = collect_page(iter(rows), page_index, page_size, True, overlap)
        return page_data(page, "datas", page_index, page_size, has_next, total)

    def query_warehouses(self, params: dict[str, Any], overlap: int = 0) -> dict[str, Any]:
        page_index = int_param(params, "page_index", 1, 1, 10**6)
        page_size = int_param(params, "page_size", 30, 1, 100)
        rows = [dict(row) for row in self.warehouses]
        page, has_next, total = collect_page(iter(rows), page_index, page_size, True, overlap)
        return page_data(page, "datas", page_index, page_size, has_next, total)

    # -- what the ERP has (for tests) -------------------------------------------------------

    def inventory_rows(self, wms_co_id: int | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {**self._inventory_view(wid, sku_id), "wms_co_id": wid}
                for (wid, sku_id) in sorted(self.inventory)
                if wms_co_id is None or wid == wms_co_id
            ]

    def sku_rows(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(row) for _, row in sorted(self.skus.items())]

    def shop_rows(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.shops]

    def rows(self, stream: str) -> list[dict[str, Any]]:
        """Current latest version of every record of ``stream`` (a source.py stream name)."""
        with self.lock:
            if stream in self.tables:
                return self.tables[stream].snapshot()
        if stream == "inventory":
            return self.inventory_rows()
        if stream == "sku":
            return self.sku_rows()
        if stream in ("shops", "shop"):
            return self.shop_rows()
        if stream == "warehouse":
            return [dict(row) for row in self.warehouses]
        raise KeyError(f"unknown stream {stream!r}")

    def max_ts(self) -> int:
        with self.lock:
            indexes = [self.summed_index, *(table.index for table in self.tables.values())]
            return max(index.max_ts for index in indexes)

    # -- mutations --------------------------------------------------------------------------

    def set_inventory(
        self, sku_id: str, wms_co_id: int, *, at: datetime | None = None, **fields: Any
    ) -> dict[str, Any]:
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
            self.stamp(row, at)
            self.inventory[key] = row
            self._index_inventory(key[0], sku_id, row)
            return {**self._inventory_view(key[0], sku_id), "wms_co_id": key[0]}

    def adjust_inventory(
        self, sku_id: str, wms_co_id: int, at: datetime | None = None, **deltas: int
    ) -> dict[str, Any]:
        """Add ``deltas`` to quantity fields (a stock move) as one change.

        The hot path of order traffic: returns the stored row itself (read it under
        ``lock``, never change it) instead of building an API view.
        """
        with self.lock:
            key = (int(wms_co_id), sku_id)
            row = self.inventory.get(key)
            if row is None:
                if sku_id not in self.skus or key[0] not in self.inventory_index:
                    raise KeyError(f"unknown stock row {key}")
                row = self.inventory[key] = {"sku_id": sku_id, **inventory_quantities(self.rng)}
            for name, delta in deltas.items():
                row[name] = int(row.get(name) or 0) + delta
            self.stamp(row, at)
            self._index_inventory(key[0], sku_id, row)
            return row

    def put_document(
        self,
        stream: str,
        row: dict[str, Any],
        at: datetime | None = None,
        *,
        late_commit: bool = False,
    ) -> dict[str, Any]:
        """Stamp and store a new version of a document (``row`` is the store's own dict)."""
        with self.lock:
            self.stamp(row, at, late_commit=late_commit)
            self.tables[stream].put(row)
            return row

    def touch(
        self,
        stream: str,
        key: Any = None,
        *,
        modified_offset_seconds: float = 0.0,
        late_commit: bool = False,
    ) -> dict[str, Any]:
        """Re-save one record unchanged: new ts, ``modified`` = now + offset.

        A negative offset gives the out-of-order case: older ``modified``, newer ``ts``.
        ``late_commit`` (documents only): the new ts is just above the record's old one,
        behind any ts cursor that read past it (see :meth:`stamp`).
        ``key`` None picks a seeded random record; inventory keys are [wms_co_id, sku_id].
        """
        with self.lock:
            at = self.clock() + timedelta(seconds=modified_offset_seconds)
            if stream == "inventory":
                if isinstance(key, str):
                    key = key.split(",")  # "wms_co_id,sku_id" from the command line
                inventory_key = (
                    tuple(key) if key is not None else self.rng.choice(list(self.inventory))
                )
                wms_co_id, sku_id = int(inventory_key[0]), str(inventory_key[1])
                return self.set_inventory(sku_id, wms_co_id, at=at)
            table = self.tables[stream]
            if key is None:
                key = self.rng.choice(list(table.rows))
            row = table.rows.get(key)
            if row is None and isinstance(key, str) and key.isdigit():
                row = table.rows.get(int(key))  # ids arrive as text from the control API
            if row is None:
                raise KeyError(f"no {stream} record {key!r}")
            return public_row(self.put_document(stream, row, at, late_commit=late_commit))

    def stream_of_path(self, path: str) -> str | None:
        """The ts stream an API path reads (None for the dimension APIs without ts)."""
        if path == INVENTORY_PATH:
            return "inventory"
        return next((t.spec.name for t in self.tables.values() if t.spec.path == path), None)

    def touch_page(self, path: str, params: dict[str, Any], rows: list[dict[str, Any]]) -> int:
        """Modify the records just served (they move to the end of the ts order)."""
        with self.lock:
            if path == INVENTORY_PATH:
                wms_co_id = int(params.get("wms_co_id") or 0) or self.warehouse_ids[0]
                for row in rows:
                    self.touch("inventory", (wms_co_id, row["sku_id"]))
                return len(rows)
            for table in self.tables.values():
                if table.spec.path == path:
                    for row in rows:
                        self.touch(table.spec.name, row[table.spec.key])
                    return len(rows)
            if path == "/open/sku/query":
                for row in rows:
                    self.update_sku(row["sku_id"])
                return len(rows)
        return 0

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
            for name, order in self.sku_order.items():
                order.put(sku_id, str(row[name]))
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
                "documents": {name: len(table) for name, table in self.tables.items()},
                "max_ts": self.max_ts(),
                "next_ts": self.next_ts,
            }


def rows_by_key(
    rows: Iterable[dict[str, Any]], *fields: str
) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(row[name] for name in fields): row for row in rows}
