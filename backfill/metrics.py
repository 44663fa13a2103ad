"""The reconciliation's figures for Prometheus (served by the monitor process, read from
the report table at each scrape): what the newest reconciliation of each stream and day
of the last week left unrepaired. The ``reconciliation_left_over`` alert fires on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from common.settings import Settings
from warehouse.client import connect
from warehouse.freshness_metrics import FamilySpecs, SourceCollector, families

LEFT_OVER_SQL = """
SELECT stream, sum(left_over), dateDiff('second', max(at), now())
FROM ops_reconciliation_latest
WHERE day >= today() - 7
GROUP BY stream
ORDER BY stream
"""
RECONCILIATION_FAMILIES: FamilySpecs = {
    "erpbi_reconciliation_left_over": (GaugeMetricFamily, "Differences between the ERP and "
        "the warehouse still there after the newest reconciliation's repair, summed over "
        "the days of the last week (ops_reconciliation_latest).", ("stream",)),
    "erpbi_reconciliation_age_seconds": (GaugeMetricFamily, "Seconds since a "
        "reconciliation last finished a day of the stream (within the last week).",
        ("stream",)),
}  # fmt: skip


class ReconciliationCollector(SourceCollector[list[tuple[str, float, float]]]):
    source = "reconciliation"

    def __init__(
        self,
        settings: Settings,
        *,
        timeout_seconds: float = 2.0,
        open_client: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(timeout_seconds, retry_after_seconds=30.0)
        self._open_client = open_client or (lambda: connect(settings.clickhouse))

    def read(self) -> list[tuple[str, float, float]]:
        client = self._open_client()
        try:
            rows = client.query(LEFT_OVER_SQL).result_rows
        finally:
            client.close()
        return [(str(stream), float(left), float(age)) for stream, left, age in rows]

    def families(self, reading: list[tuple[str, float, float]] | None) -> Iterator[Metric]:
        rows = reading or []
        return families(RECONCILIATION_FAMILIES, {
            "erpbi_reconciliation_left_over": {(stream,): left for stream, left, _ in rows},
            "erpbi_reconciliation_age_seconds": {(stream,): age for stream, _, age in rows},
        })  # fmt: skip
