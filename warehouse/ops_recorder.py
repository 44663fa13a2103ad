"""Copy the figures of screen 8 from Prometheus into the warehouse table ``ops_metrics``.

Superset reads ClickHouse, not Prometheus, so every ``monitoring.record_every_seconds``
each series of ``monitoring/screen_series.yaml`` is asked of Prometheus's HTTP API
(``/api/v1/query``, an instant query) and its answer rows become warehouse rows: the
series' name, the value of its one telling label, the value. The table keeps 14 days
(its TTL); the view ``ops_metrics_latest`` serves the newest value of each.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
import yaml  # type: ignore[import-untyped]
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import BaseModel, ConfigDict

log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")
COLUMNS = ("ts", "metric", "label", "value")
QUERY_TIMEOUT_SECONDS = 5.0


class ScreenSeries(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    query: str  # PromQL, instant
    label: str = ""  # the label whose value tells its rows apart ('' : one row)


def load_series(path: Path) -> dict[str, ScreenSeries]:
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {name: ScreenSeries.model_validate(spec) for name, spec in document.items()}


@dataclass
class RecorderMetrics:
    registry: CollectorRegistry

    def __post_init__(self) -> None:
        self.rows = Counter("erpbi_recorder_rows_written", "Rows written into ops_metrics",
                            registry=self.registry)  # fmt: skip
        self.last_success = Gauge("erpbi_recorder_last_success_timestamp_seconds",
                                  "When ops_metrics was last written (Unix time)",
                                  registry=self.registry)  # fmt: skip
        self.failures = Counter("erpbi_recorder_failures", "Recording rounds that failed, by "
                                "what failed (prometheus, warehouse)", ["source"],
                                registry=self.registry)  # fmt: skip


@dataclass
class OpsRecorder:
    prometheus_url: str
    series: Mapping[str, ScreenSeries]
    insert: Callable[[list[list[Any]]], None]  # rows in COLUMNS order
    metrics: RecorderMetrics
    session: requests.Session | None = None

    def rows(self) -> list[list[Any]]:
        """One round of answers; a series Prometheus cannot answer is skipped (logged)."""
        session = self.session or requests.Session()
        self.session = session
        now = datetime.now(SHANGHAI).replace(microsecond=0)
        out: list[list[Any]] = []
        for name, spec in self.series.items():
            try:
                answer = session.get(f"{self.prometheus_url}/api/v1/query",
                                     params={"query": spec.query},
                                     timeout=QUERY_TIMEOUT_SECONDS)  # fmt: skip
                answer.raise_for_status()
                result = answer.json()["data"]["result"]
            except (requests.RequestException, ValueError, KeyError) as error:
                self.metrics.failures.labels("prometheus").inc()
                log.warning("screen series %s: Prometheus did not answer: %s", name, error)
                continue
            for sample in result:
                value = float(sample["value"][1])
                if math.isnan(value) or math.isinf(value):
                    continue  # no traffic yet (0/0): nothing to show rather than NaN
                label = str(sample.get("metric", {}).get(spec.label, "")) if spec.label else ""
                out.append([now, name, label, value])
        return out

    def record_once(self) -> int:
        rows = self.rows()
        if not rows:
            return 0
        try:
            self.insert(rows)
        except Exception as error:  # noqa: BLE001 - the warehouse may be restarting
            self.metrics.failures.labels("warehouse").inc()
            log.warning("ops_metrics: %d rows not written: %s", len(rows), error)
            return 0
        self.metrics.rows.inc(len(rows))
        self.metrics.last_success.set_to_current_time()
        return len(rows)
