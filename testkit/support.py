"""Helpers shared by test folders and benchmarks: isolated settings on free ports."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path
from types import FrameType

from common.settings import Settings, load_settings


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_settings(
    run_dir: Path, profile: str = "single", **sections: dict[str, object]
) -> Settings:
    """Settings for an isolated stack: every port free, every folder under ``run_dir``."""
    base = load_settings()
    rest_port = free_port()
    overrides: dict[str, dict[str, object]] = {
        "paths": {"cache_dir": base.paths.cache_dir, "run_dir": run_dir},
        "kafka": {"port": free_port(), "controller_port": free_port(), "topic_prefix": "erp"},
        "clickhouse": {"port": free_port()},
        "flink": {
            "rest_port": rest_port,
            "jobmanager_address": f"127.0.0.1:{rest_port}",
            "jobmanager_rpc_port": free_port(),
            "checkpoint_interval_ms": 2000,
        },
        "superset": {"port": free_port()},
        "push": {"image_port": free_port()},
        "monitoring": {
            name: free_port()
            for name in (
                "prometheus_port", "alertmanager_port", "connector_port", "flink_port",
                "alerter_port", "pusher_port", "recorder_port",
            )
        },  # fmt: skip
        "simulator": {
            "port": (sim_port := free_port()),
            "sku_count": 200,
            "warehouse_count": 2,
            "live_orders_per_hour": 0,
            "backfill_days": 1,
        },
        "jushuitan": {
            "base_url": f"http://127.0.0.1:{sim_port}",
            "poll_interval_seconds": 0.5,
            "quota_ledger_dir": run_dir / "quota",  # a free port may be an earlier stack's
        },
    }
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    return Settings(profile=profile, **overrides)  # type: ignore[arg-type]


def exit_through_finally_on_sigterm() -> None:
    """SIGTERM ends a benchmark through its ``finally``, which stops its stack. Later
    SIGTERMs are ignored so they cannot cut that cleanup short: ``timeout`` and
    ``pkill -f`` both pass a second one on, and it used to leave Kafka and the
    warehouse server running."""

    def leave(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.exit(143)

    signal.signal(signal.SIGTERM, leave)


def dead_letters_for(
    settings: Settings, stream: str, wanted: set[str], key: str, timeout: float = 60.0
) -> dict[str, dict[str, object]]:
    """The dead letters on ``<prefix>.dlq.<stream>`` whose payload's ``key`` is in ``wanted``,
    read until all of them are there or ``timeout`` passes (whatever was found by then)."""
    import json
    import time

    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        settings.kafka.topic("dlq", stream), bootstrap_servers=settings.kafka.bootstrap_servers,
        auto_offset_reset="earliest", consumer_timeout_ms=1000,
    )  # fmt: skip
    found: dict[str, dict[str, object]] = {}
    deadline = time.monotonic() + timeout
    try:
        while set(found) != wanted and time.monotonic() < deadline:
            for message in consumer:
                letter = json.loads(message.value)
                payload = json.loads(letter["payload"])
                if payload.get(key) in wanted:
                    found[payload[key]] = letter
    finally:
        consumer.close()
    return found
