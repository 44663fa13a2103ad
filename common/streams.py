"""Every stream of the pipeline by name: the one list the stages share.

A stream is one ERP record kind with its own Kafka topics (``<prefix>.ods.<stream>``,
``<prefix>.dlq.<stream>``). The connectors (``connectors.registry``), the Flink job
(``flink_jobs.specs``, ``flink_jobs.dimensions_sql``), the stack (``erpbi.services``) and
the backfill all take their lists from here; ``tests/common/test_streams.py`` checks that
each stage covers exactly these.
"""

from __future__ import annotations

# Dimensions: compacted topics, the latest row per key. shop_sheet is the users' own
# sheet (owner, region, fee rate), loaded by `erpbi dims`, not pulled from the ERP.
DIMENSION_STREAMS = ("sku", "warehouse", "shop", "shop_sheet")
# Facts: stock snapshots and documents, pulled by their modified time; the backfill and
# the reconciliation re-pull and compare them by day.
FACT_STREAMS = ("inventory", "outbound", "refund", "aftersale_received")
ODS_STREAMS = DIMENSION_STREAMS + FACT_STREAMS
# What the connectors pull from the ERP, dimensions first (the first load's order).
ERP_STREAMS = ("warehouse", "shop", "sku", *FACT_STREAMS)
