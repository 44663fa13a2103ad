"""Prometheus and Alertmanager on the single-machine stack: their configuration, rendered
from the settings into ``<run>/config/``, and their commands.

The rules live in ``monitoring/rules`` (or ``monitoring.rules_dir``) and are loaded as they
are; what changes per machine (ports, the run folder, the relay's address) is rendered
here. Both listen on loopback; their data stays under ``<run>/data``. The compose file
runs the same two programs on official images with ``monitoring/compose/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from common.settings import PROJECT_ROOT, Settings

MONITORING_DIR = PROJECT_ROOT / "monitoring"
PROMETHEUS_BINARY = "prometheus"
ALERTMANAGER_BINARY = "prometheus-alertmanager"  # Debian's name for alertmanager
RELAY_PATH = "/alertmanager"  # the alert service's webhook for Alertmanager


def rules_dir(settings: Settings) -> Path:
    return settings.monitoring.rules_dir


def config_dir(settings: Settings) -> Path:
    return settings.paths.run_dir / "config" / "monitoring"


def scrape_targets(settings: Settings) -> dict[str, tuple[str, str]]:
    """job -> (host:port, metrics path): every service that exposes metrics."""
    m = settings.monitoring
    loopback = "127.0.0.1"
    ch = settings.clickhouse
    # the cluster profile's second warehouse server has its own series (and scrape alert)
    more_warehouses = {
        f"warehouse-{n}": (f"{ch.host}:{ch.replica_port(n)}", "/metrics")
        for n in range(2, ch.replicas + 1)
    }
    return {
        "connector": (f"{loopback}:{m.connector_port}", "/metrics"),
        "pipeline": (f"{loopback}:{m.flink_port}", "/metrics"),
        "recorder": (f"{loopback}:{m.recorder_port}", "/metrics"),
        "warehouse": (f"{ch.host}:{ch.port}", "/metrics"),
        **more_warehouses,
        "superset": (f"{settings.superset.host}:{settings.superset.port}", "/metrics"),
        "alerter": (f"{loopback}:{m.alerter_port}", "/metrics"),
        "pusher": (f"{loopback}:{m.pusher_port}", "/metrics"),
        "alertmanager": (f"{loopback}:{m.alertmanager_port}", "/metrics"),
    }


def prometheus_config(settings: Settings) -> dict[str, Any]:
    every = f"{settings.monitoring.scrape_interval_seconds:g}s"
    return {
        "global": {"scrape_interval": every, "evaluation_interval": every,
                   "scrape_timeout": every},  # fmt: skip
        "rule_files": [str(rules_dir(settings) / "*.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{settings.monitoring.alertmanager_port}"]}]}]},
        "scrape_configs": [
            {"job_name": job, "metrics_path": path, "static_configs": [{"targets": [target]}]}
            for job, (target, path) in scrape_targets(settings).items()
        ],
    }  # fmt: skip


def alertmanager_config(settings: Settings) -> dict[str, Any]:
    """One route, to the alert service's relay: it words, routes, silences and records
    ops alerts the way it does the business rules (one delivery path and log)."""
    relay = f"http://127.0.0.1:{settings.monitoring.alerter_port}{RELAY_PATH}"
    return {
        "route": {
            "receiver": "erpbi-relay",
            "group_by": ["alertname"],
            "group_wait": "5s",
            "group_interval": "10s",
            "repeat_interval": "2m",  # the relay dedupes; repeats keep its view current
        },
        "receivers": [{"name": "erpbi-relay", "webhook_configs": [
            {"url": relay, "send_resolved": True, "max_alerts": 0}]}],
    }  # fmt: skip


def write_configs(settings: Settings) -> tuple[Path, Path]:
    folder = config_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    prometheus = folder / "prometheus.yml"
    alertmanager = folder / "alertmanager.yml"
    prometheus.write_text(yaml.safe_dump(prometheus_config(settings), sort_keys=False))
    alertmanager.write_text(yaml.safe_dump(alertmanager_config(settings), sort_keys=False))
    return prometheus, alertmanager


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name} is not installed: run scripts/bootstrap.sh "
            "(it installs Debian's prometheus and prometheus-alertmanager)"
        )
    return found


def prometheus_command(settings: Settings) -> list[str]:
    config, _ = write_configs(settings)
    data = settings.paths.data_dir / "prometheus"
    data.mkdir(parents=True, exist_ok=True)
    return [
        binary(PROMETHEUS_BINARY), f"--config.file={config}",
        f"--storage.tsdb.path={data}", "--storage.tsdb.retention.time=15d",
        f"--web.listen-address=127.0.0.1:{settings.monitoring.prometheus_port}",
        "--web.enable-lifecycle", "--log.level=warn",
    ]  # fmt: skip


def alertmanager_command(settings: Settings) -> list[str]:
    _, config = write_configs(settings)
    data = settings.paths.data_dir / "alertmanager"
    data.mkdir(parents=True, exist_ok=True)
    return [
        binary(ALERTMANAGER_BINARY), f"--config.file={config}", f"--storage.path={data}",
        f"--web.listen-address=127.0.0.1:{settings.monitoring.alertmanager_port}",
        "--cluster.listen-address=", "--log.level=warn",
    ]  # fmt: skip


def prometheus_url(settings: Settings) -> str:
    m = settings.monitoring
    return f"http://{m.prometheus_host}:{m.prometheus_port}"


def alertmanager_url(settings: Settings) -> str:
    m = settings.monitoring
    return f"http://{m.alertmanager_host}:{m.alertmanager_port}"
