"""RefundConnector: after-sale documents (售后单) by the ``start_ts`` cursor.

Kafka key ``{"as_id": ...}``; value is the document (``items[]`` nested) plus
``_ingested_at``. Money fields of Taobao/Tmall shops are empty on this API; they come
from the Qimen gateway (see :mod:`connectors.qimen`).
"""

from __future__ import annotations

from connectors.models import RefundRow
from connectors.tscursor import SingleTsStreamConnector


class RefundConnector(SingleTsStreamConnector):
    stream = "refund"
    row_model = RefundRow
    key_field = "as_id"
