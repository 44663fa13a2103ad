"""WarehouseConnector: the warehouse dimension (name, province) by full scan.

Kafka key ``{"wms_co_id": ...}`` on a compacted topic; see :mod:`connectors.fullscan`.
"""

from __future__ import annotations

from connectors.fullscan import WHOLE_LIST, FullScanConnector
from connectors.models import WarehouseRow

__all__ = ["WHOLE_LIST", "WarehouseConnector"]


class WarehouseConnector(FullScanConnector):
    stream = "warehouse"
    row_model = WarehouseRow
    key_field = "wms_co_id"
