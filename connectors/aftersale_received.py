"""AftersaleReceivedConnector: after-sale receipts (售后收货单) by the ``start_ts`` cursor.

Kafka key ``{"io_id": ...}``; value is the receipt (``items[]`` nested) plus
``_ingested_at``. Page 1 of this API is sometimes slow: the client timeout (60 s by
default) covers it.
"""

from __future__ import annotations

from connectors.models import AftersaleReceivedRow
from connectors.tscursor import SingleTsStreamConnector


class AftersaleReceivedConnector(SingleTsStreamConnector):
    stream = "aftersale_received"
    row_model = AftersaleReceivedRow
    key_field = "io_id"
