"""InventoryConnector: stock per SKU per warehouse, by the ``ts`` cursor per warehouse.

Rows carry no warehouse id, so the stream is read one ``wms_co_id`` at a time and the id
is added to the key and value. Kafka key ``{"sku_id": ..., "wms_co_id": ...}``; value is
the row plus ``wms_co_id`` and ``_ingested_at`` (epoch milliseconds).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from connectors.base import PageQuery, Partition
from connectors.models import InventoryRow
from connectors.tscursor import TsCursorConnector
from connectors.urgency import Urgency

log = logging.getLogger(__name__)

ALL_WAREHOUSES_SUMMED = 0


class InventoryConnector(TsCursorConnector):
    stream = "inventory"
    row_model = InventoryRow
    backlog_urgency = Urgency.INVENTORY

    def __init__(self, *args: Any, warehouse_ids: Sequence[int] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._warehouse_ids = [int(wms_co_id) for wms_co_id in warehouse_ids]

    def discover_warehouse_ids(self) -> list[int]:
        """Ask the source for the merchant's warehouses (``warehouse`` stream)."""
        if not self.source.supports("warehouse"):
            return []
        ids: list[int] = []
        page_index = 1
        while True:
            page = self.source.query("warehouse", PageQuery(page_size=100, page_index=page_index))
            ids.extend(int(row["wms_co_id"]) for row in page.rows if row.get("wms_co_id"))
            if not page.has_next or not page.rows:
                return sorted(set(ids))
            page_index += 1

    def partitions(self) -> list[Partition]:
        ids = self._warehouse_ids or self.discover_warehouse_ids()
        if not ids:
            log.warning("no warehouses known: reading wms_co_id=0 (all warehouses summed)")
            ids = [ALL_WAREHOUSES_SUMMED]
        self._warehouse_ids = ids
        return [
            Partition(str(wms_co_id), {"wms_co_id": wms_co_id}, {"wms_co_id": wms_co_id})
            for wms_co_id in ids
        ]

    def key_for(self, row: InventoryRow, partition: Partition) -> dict[str, Any]:
        return {"sku_id": row.sku_id, "wms_co_id": partition.context["wms_co_id"]}
