"""ShopConnector: the shop dimension (name, platform site, group) by full scan.

Kafka key ``{"shop_id": ...}`` on a compacted topic; see :mod:`connectors.fullscan`.
The users' own shop sheet (owner, region, platform fee rate) is joined downstream.
"""

from __future__ import annotations

from connectors.fullscan import FullScanConnector
from connectors.models import ShopRow


class ShopConnector(FullScanConnector):
    stream = "shop"
    row_model = ShopRow
    key_field = "shop_id"
