"""`erpbi monitor ...`: the monitor process and what it knows.

Examples:
  erpbi monitor run [--once]   # the monitor service (`erpbi up` starts it as `monitor`)
  erpbi monitor status         # freshness per stream, Kafka lag, ops alerts firing now
  erpbi monitor urls           # where Prometheus, Alertmanager and each /metrics answer

The monitor service does two things:
- serves the pipeline's figures as Prometheus metrics on ``monitoring.flink_port``: Flink
  (its REST API), Kafka consumer lag per topic and recent dead letters (Kafka), and the
  freshness of each stream (the warehouse), read at each scrape;
- every ``monitoring.record_every_seconds`` copies screen 8's series from Prometheus into
  the warehouse table ``ops_metrics`` (its own metrics on ``monitoring.recorder_port``).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import urllib.request
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.registry import Collector

from common.settings import Settings
from erpbi.monitoring import MONITORING_DIR, alertmanager_url, prometheus_url, scrape_targets

log = logging.getLogger(__name__)
SCREEN_SERIES = MONITORING_DIR / "screen_series.yaml"


def pipeline_collectors(settings: Settings) -> list[Collector]:
    from backfill.metrics import ReconciliationCollector
    from common.streams import ODS_STREAMS
    from flink_jobs.metrics import FlinkCollector, KafkaLagCollector
    from warehouse.freshness_metrics import FreshnessCollector

    return [FlinkCollector(settings), KafkaLagCollector(settings, ODS_STREAMS),
            FreshnessCollector(settings), ReconciliationCollector(settings)]  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erpbi monitor", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="serve the pipeline's metrics, record screen 8's")
    run.add_argument("--once", action="store_true", help="record once, then exit")
    actions.add_parser("status", help="freshness per stream, Kafka lag, ops alerts firing")
    actions.add_parser("urls", help="Prometheus, Alertmanager and every /metrics address")
    return parser


def main(settings: Settings, argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if args.action == "run":
        return run(settings, once=args.once)
    if args.action == "status":
        print(format_lag_and_freshness(settings))
        print(format_firing(settings))
        return 0
    print(f"Prometheus     {prometheus_url(settings)}")
    print(f"Alertmanager   {alertmanager_url(settings)}")
    for job, (target, path) in scrape_targets(settings).items():
        print(f"{job:<14} http://{target}{path}")
    return 0


def recorder(settings: Settings, registry: CollectorRegistry) -> Any:
    from warehouse.client import connect
    from warehouse.ops_recorder import COLUMNS, OpsRecorder, RecorderMetrics, load_series

    client = connect(settings.clickhouse)

    def insert(rows: list[list[Any]]) -> None:
        client.insert("ops_metrics", rows, column_names=list(COLUMNS))

    return OpsRecorder(prometheus_url(settings), load_series(SCREEN_SERIES), insert,
                       RecorderMetrics(registry))  # fmt: skip


def run(settings: Settings, once: bool = False) -> int:
    monitoring = settings.monitoring
    recorder_registry = CollectorRegistry()
    rec = recorder(settings, recorder_registry)
    if once:
        print(f"{rec.record_once()} rows written into ops_metrics")
        return 0
    from warehouse.freshness_metrics import MergedCollector

    pipeline_registry = CollectorRegistry()
    # One collector over the three sources: erpbi_monitor_source_up appears once, and the
    # sources are asked in parallel (a scrape waits for the slowest, not their sum).
    pipeline_registry.register(MergedCollector(pipeline_collectors(settings)))
    start_http_server(
        monitoring.flink_port, addr=monitoring.metrics_bind, registry=pipeline_registry
    )
    start_http_server(
        monitoring.recorder_port, addr=monitoring.metrics_bind, registry=recorder_registry
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("monitor: pipeline metrics on :%d, recording screen 8 every %.0f s",
             monitoring.flink_port, monitoring.record_every_seconds)  # fmt: skip
    while not stop.is_set():
        rec.record_once()
        stop.wait(monitoring.record_every_seconds)
    return 0


def lag_and_freshness(settings: Settings) -> dict[str, dict[str, float]]:
    """Per stream: seconds behind the ERP on the screens; per topic: messages not yet read
    by the pipeline. Read directly (no Prometheus needed), as the monitor serves them."""
    from common.streams import ODS_STREAMS
    from flink_jobs.metrics import KafkaLagCollector
    from warehouse.freshness_metrics import FreshnessCollector

    wanted = {"erpbi_stream_freshness_seconds": ("freshness", "stream"),
              "erpbi_kafka_consumer_lag_messages": ("lag", "topic")}  # fmt: skip
    out: dict[str, dict[str, float]] = {"freshness": {}, "lag": {}}
    for collector in (FreshnessCollector(settings), KafkaLagCollector(settings, ODS_STREAMS)):
        for family in collector.collect():
            if family.name not in wanted:
                continue
            key, label = wanted[family.name]
            for sample in family.samples:
                out[key][sample.labels.get(label, "")] = sample.value
    return out


def format_lag_and_freshness(settings: Settings) -> str:
    figures = lag_and_freshness(settings)
    lines = ["freshness (ERP change -> screens):"]
    fresh = sorted(figures["freshness"].items())
    lines += [f"  {stream:<20} {_duration(seconds)} behind" for stream, seconds in fresh]
    lines += [] if fresh else ["  unknown"]
    lines.append("Kafka lag (messages the pipeline has not read):")
    lag = sorted(figures["lag"].items())
    lines += [f"  {topic:<28} {int(count):>8}" for topic, count in lag]
    lines += [] if lag else ["  unknown"]
    return "\n".join(lines)


def format_firing(settings: Settings) -> str:
    url = f"{alertmanager_url(settings)}/api/v2/alerts?active=true&silenced=false"
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:
            alerts = json.load(answer)
    except OSError as error:
        return f"ops alerts: Alertmanager does not answer ({error})"
    if not alerts:
        return "ops alerts: none firing"
    lines = ["ops alerts firing:"]
    for alert in alerts:
        labels = alert.get("labels", {})
        summary = alert.get("annotations", {}).get("summary", "")
        lines.append(f"  {labels.get('alertname', '?'):<24} {summary}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:6.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:6.1f} min"
    return f"{seconds / 3600:6.1f} h"
