"""OutboundConnector: sales outbound documents (销售出库单) by the ``start_ts`` cursor.

Kafka key ``{"io_id": ...}``; value is the document (``items[]`` nested) plus
``_ingested_at``. A document comes again with a higher ``ts`` whenever it changes
(status WaitConfirm -> Confirmed, void...): downstream keeps the highest ``ts`` per key.
"""

from __future__ import annotations

from connectors.models import OutboundRow
from connectors.tscursor import SingleTsStreamConnector


class OutboundConnector(SingleTsStreamConnector):
    stream = "outbound"
    row_model = OutboundRow
    key_field = "io_id"
