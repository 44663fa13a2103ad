"""SkuConnector: the SKU dimension by modified-time windows (the API has no ``ts``).

Kafka key ``{"sku_id": ...}``; value is the row plus ``_ingested_at`` (epoch ms).
Boundary duplicates from the window overlap are dropped by ``sku_id`` + ``modified``
(+ a digest of the row: ``modified`` has one-second resolution, so two edits within
one second must both get through).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from connectors.base import Partition
from connectors.kafka_producer import encode_json
from connectors.models import SkuRow, parse_erp_time
from connectors.windowed import ModifiedWindowConnector


class SkuConnector(ModifiedWindowConnector):
    stream = "sku"
    row_model = SkuRow

    def key_for(self, row: SkuRow, partition: Partition) -> dict[str, Any]:
        return {"sku_id": row.sku_id}

    def dedupe_key(self, row: SkuRow) -> str:
        digest = hashlib.sha1(encode_json(row.model_dump(mode="json"))).hexdigest()[:12]
        return f"{row.sku_id}|{row.modified}|{digest}"

    def modified_of(self, row: SkuRow) -> datetime:
        return parse_erp_time(row.modified)

    def window_filters(self) -> dict[str, Any]:
        return {"date_field": "modified"}
