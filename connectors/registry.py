"""Every stream this connector knows, by name, dimensions first (``erpbi sync --status``
lists them in this order, and the API's first load reads dimensions first)."""

from __future__ import annotations

from connectors.aftersale_received import AftersaleReceivedConnector
from connectors.base import StreamConnector
from connectors.inventory import InventoryConnector
from connectors.outbound import OutboundConnector
from connectors.refund import RefundConnector
from connectors.shop import ShopConnector
from connectors.sku import SkuConnector
from connectors.warehouse_dimension import WarehouseConnector

STREAMS: dict[str, type[StreamConnector]] = {
    "warehouse": WarehouseConnector,
    "shop": ShopConnector,
    "sku": SkuConnector,
    "inventory": InventoryConnector,
    "outbound": OutboundConnector,
    "refund": RefundConnector,
    "aftersale_received": AftersaleReceivedConnector,
}
