"""Benchmark of the single-machine stack and the inventory slice. Prints tables.

Measures, on a fresh run folder with free ports:
  1. cold-start time of `erpbi up` (total and per service; caches already downloaded),
  2. resident memory of each service once the initial load has landed,
  3. records/s through the slice:
     a. ERP -> connector -> Kafka -> Flink -> ClickHouse for N changed inventory rows
        (bound by the ERP quota: 5 calls/s, 100 calls/min),
     b. Kafka -> Flink -> ClickHouse for M records appended straight to Kafka.

Usage: .cache/venvs/core/bin/python benchmarks/stack_bench.py [--changes 2000] [--direct 20000]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from kafka import KafkaProducer  # noqa: E402

from common.settings import Settings  # noqa: E402
from erp_simulator.control import SimulatorControl  # noqa: E402
from erpbi import stack  # noqa: E402
from erpbi.processes import wait_until  # noqa: E402
from testkit.support import exit_through_finally_on_sigterm, isolated_settings  # noqa: E402
from warehouse.client import connect  # noqa: E402


def erp_matches_warehouse(erp: SimulatorControl, settings: Settings) -> bool:
    client = connect(settings.clickhouse)
    try:
        rows = client.query("SELECT sku_id, wms_co_id, ts FROM dws_inventory FINAL").result_rows
    finally:
        client.close()
    actual = {(sku, int(wms)): int(ts) for sku, wms, ts in rows}
    expected = {(r["sku_id"], int(r["wms_co_id"])): int(r["ts"]) for r in erp.inventory()}
    return actual == expected


def direct_throughput(settings: Settings, count: int) -> float:
    """Append ``count`` inventory records to Kafka and time until all are in ClickHouse."""
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", linger_ms=20
    )
    topic = settings.kafka.topic("ods", "inventory")
    base_ts = 10**15
    began = time.monotonic()
    for index in range(count):
        record = {
            "sku_id": f"BENCH-{index:07d}", "wms_co_id": 9, "i_id": "BENCH", "name": "bench",
            "qty": index % 500, "order_lock": 0, "virtual_qty": 0, "lock_qty": 0,
            "modified": "2026-11-22 12:00:00", "ts": base_ts + index,
        }  # fmt: skip
        key = json.dumps({"sku_id": record["sku_id"], "wms_co_id": 9}).encode()
        producer.send(topic, key=key, value=json.dumps(record).encode())
    producer.flush()
    client = connect(settings.clickhouse)

    def landed() -> bool:
        query = "SELECT count() FROM dws_inventory FINAL WHERE wms_co_id = 9"
        return bool(client.query(query).result_rows[0][0] >= count)

    wait_until(landed, 600, 0.2)
    elapsed = time.monotonic() - began
    client.close()
    return count / elapsed


def main() -> int:
    exit_through_finally_on_sigterm()  # stops the stack on the way out
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=2000, help="ERP inventory changes (3a)")
    parser.add_argument("--direct", type=int, default=20000, help="records appended to Kafka (3b)")
    parser.add_argument("--sku-count", type=int, default=2000)
    args = parser.parse_args()

    run_dir = Path(tempfile.mkdtemp(prefix="erpbi-bench-")) / "run"
    settings = isolated_settings(
        run_dir, simulator={"sku_count": args.sku_count, "warehouse_count": 4}
    )
    per_service: list[tuple[str, float]] = []
    try:
        began = time.monotonic()
        stack.up(
            settings,
            report=lambda line: per_service.append(_parse(line)) if "ready in" in line else None,
        )
        cold_start = time.monotonic() - began
        erp = SimulatorControl(settings.jushuitan.base_url)
        load_began = time.monotonic()
        wait_until(lambda: erp_matches_warehouse(erp, settings), 900, 1.0)
        initial_load = time.monotonic() - load_began
        rows = len(erp.inventory())

        memory = [(row.name, row.rss_mb) for row in stack.status(settings)]

        erp.mutate(inventory=args.changes)
        changed_began = time.monotonic()
        wait_until(lambda: erp_matches_warehouse(erp, settings), 900, 0.5)
        erp_elapsed = time.monotonic() - changed_began
        direct = direct_throughput(settings, args.direct)
    finally:
        stack.down(settings, report=lambda line: None)

    print(f"\nmachine: {platform.node()} {platform.machine()}, "
          f"{_cpu_count()} cores, Python {platform.python_version()}")
    print("\n| service | ready after (s) |\n|---|---:|")
    for name, seconds in per_service:
        print(f"| {name} | {seconds:.1f} |")
    print(f"| **erpbi up total (cold)** | **{cold_start:.1f}** |")
    print("\n| service | resident memory (MiB) |\n|---|---:|")
    for name, rss in memory:
        print(f"| {name} | {rss:.0f} |")
    print(f"| **total** | **{sum(r for _, r in memory):.0f}** |")
    print("\n| slice measurement | value |\n|---|---:|")
    print(f"| initial load: {rows} inventory rows + {args.sku_count} SKUs, ERP -> ClickHouse (s) "
          f"| {initial_load:.1f} |")
    print(f"| ERP changes -> ClickHouse ({args.changes} changes, quota-bound), records/s "
          f"| {args.changes / erp_elapsed:.0f} |")
    print(f"| Kafka -> Flink -> ClickHouse ({args.direct} records), records/s | {direct:.0f} |")
    return 0


def _parse(line: str) -> tuple[str, float]:
    parts = line.split()
    return parts[0], float(parts[3].rstrip("s"))


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
