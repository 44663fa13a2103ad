"""Benchmark of the Flink pipeline on this machine: Kafka -> Flink -> ClickHouse. Prints tables.

1. Sustained throughput: a backlog of N inventory records (and of outbound documents with
   two items each) is written to Kafka while the job is stopped; the job is started and
   the landing rate in ClickHouse is measured between 10 % and 90 % of the backlog.
2. Latency at a steady rate (default 1,333 records/s, the reference peak): after a 15 s
   warm-up at that rate, records are appended at that rate for D seconds; per row,
   latency = time the row reached ClickHouse (_loaded_at) - time Kafka appended the
   record (_kafka_at); p50/p95/p99 are printed.

Each setup runs on its own fresh stack, one after the other on this machine:
  local       the MiniCluster inside the job's process, 1 Kafka broker (the default)
  cluster-p1  the cluster profile (Flink JobManager + 2 TaskManagers, 3 Kafka brokers with
              replication 3, min.insync 2) at parallelism 1
  cluster-p2  the same at parallelism 2 (the profile's own)
and the memory of every process of its stack is read at the end of its latency run.

Usage: .cache/venvs/core/bin/python benchmarks/pipeline_bench.py [--backlog 200000]
       [--rate 1333] [--seconds 60] [--setups local,cluster-p1,cluster-p2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from kafka import KafkaProducer  # noqa: E402

from common.settings import Settings, load_settings  # noqa: E402
from erpbi import jobs, stack  # noqa: E402
from erpbi.services import by_name  # noqa: E402
from testkit.support import exit_through_finally_on_sigterm, isolated_settings  # noqa: E402
from warehouse.client import connect  # noqa: E402


def producer_for(settings: Settings) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", linger_ms=20,
        batch_size=512 * 1024,
    )  # fmt: skip


def inventory_record(prefix: str, index: int, wms: int) -> tuple[bytes, bytes]:
    sku = f"{prefix}-{index:08d}"
    value = {"sku_id": sku, "wms_co_id": wms, "qty": index % 700, "order_lock": 1,
             "ts": 10**12 + index, "modified": "2026-11-22 12:00:00", "i_id": "BENCH"}
    return json.dumps({"sku_id": sku, "wms_co_id": wms}).encode(), json.dumps(value).encode()


def outbound_record(index: int) -> tuple[bytes, bytes]:
    io_id = f"BENCH-IO-{index:08d}"
    items = [{"ioi_id": f"{io_id}-{n}", "sku_id": f"SKU-{(index * 7 + n) % 2000:05d}", "qty": 1 + n,
              "sale_price": "59.90", "sale_amount": str(59.9 * (1 + n))} for n in range(2)]
    value = {"io_id": io_id, "o_id": f"O-{index}", "shop_id": 1 + index % 12, "status": "Confirmed",
             "created": "2026-11-22 10:00:00", "modified": "2026-11-22 10:05:00",
             "io_date": "2026-11-22 10:05:00", "pay_amount": "179.70", "wms_co_id": 1,
             "ts": 10**12 + index, "items": items}
    return json.dumps({"io_id": io_id}).encode(), json.dumps(value, ensure_ascii=False).encode()


def count(settings: Settings, sql: str) -> int:
    client = connect(settings.clickhouse)
    try:
        return int(client.query(sql).result_rows[0][0])
    finally:
        client.close()


def measure_backlog(
    settings: Settings, label: str, total_rows: int, rows_sql: str
) -> tuple[str, float]:
    """Rows/s between the arrival of the 10 % and the 90 % row, from ClickHouse's own
    ``_loaded_at`` once every row is in: polling while the job runs stays once a second,
    so the measurement takes almost no CPU from the job it measures."""
    job = by_name("flink-pipeline")
    stack.start_service(settings, job, report=lambda line: None)
    deadline = time.monotonic() + 1800
    while count(settings, f"SELECT count() FROM ({rows_sql})") < total_rows:
        if time.monotonic() > deadline:
            jobs.cancel(settings)
            return label, float("nan")
        time.sleep(1)
    jobs.cancel(settings)  # on a cluster, stopping the submitter would leave the job running
    low, high = int(total_rows * 0.1), int(total_rows * 0.9)
    client = connect(settings.clickhouse)
    try:
        low_at, high_at = client.query(
            f"SELECT t[{low}], t[{high}] FROM "
            f"(SELECT arraySort(groupArray(_loaded_at)) AS t FROM ({rows_sql}))"
        ).result_rows[0]
    finally:
        client.close()
    seconds = (high_at - low_at).total_seconds()
    return label, (high - low) / seconds if seconds > 0 else float("nan")


def backlog_throughput(settings: Settings, records: int) -> list[tuple[str, float]]:
    results = []
    producer = producer_for(settings)
    topic = settings.kafka.topic("ods", "inventory")
    for index in range(records):
        key, value = inventory_record("TP", index, 31)
        producer.send(topic, key=key, value=value)
    producer.flush()
    results.append(measure_backlog(
        settings, f"inventory records ({records:,})", records,
        "SELECT _loaded_at FROM dws_inventory WHERE wms_co_id = 31"))  # fmt: skip

    documents = records  # 3 rows each: long enough to measure well past the JIT warm-up
    topic = settings.kafka.topic("ods", "outbound")
    for index in range(documents):
        key, value = outbound_record(index)
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()
    results.append(measure_backlog(
        settings, f"outbound docs + 2 items each ({documents:,} docs = {documents * 3:,} rows)",
        documents * 3,
        "SELECT _loaded_at FROM dwd_sale_out WHERE io_id LIKE 'BENCH-IO-%' UNION ALL "
        "SELECT _loaded_at FROM dwd_sale_out_item WHERE io_id LIKE 'BENCH-IO-%'"))  # fmt: skip
    return results


def send_at_rate(settings: Settings, prefix: str, wms: int, rate: int, seconds: int) -> float:
    producer = producer_for(settings)
    topic = settings.kafka.topic("ods", "inventory")
    total = rate * seconds
    began = time.monotonic()
    for index in range(total):
        key, value = inventory_record(prefix, index, wms)
        producer.send(topic, key=key, value=value)
        pause = began + (index + 1) / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    producer.flush()
    producer.close()
    return total / (time.monotonic() - began)


def steady_latency(settings: Settings, rate: int, seconds: int) -> dict[str, float]:
    """Warm up for 15 s at the rate (JIT, Python workers), then measure the next ``seconds``."""
    stack.start_service(settings, by_name("flink-pipeline"), report=lambda line: None)
    send_at_rate(settings, "WARM", 33, rate, 15)
    achieved = send_at_rate(settings, "LAT", 32, rate, seconds)
    total = rate * seconds
    sql = "SELECT count() FROM dws_inventory WHERE wms_co_id = 32"
    deadline = time.monotonic() + 300
    while count(settings, sql) < total and time.monotonic() < deadline:
        time.sleep(0.5)
    client = connect(settings.clickhouse)
    p50, p95, p99, worst = client.query(
        "SELECT quantiles(0.5, 0.95, 0.99, 1)(dateDiff('millisecond', _kafka_at, _loaded_at)) "
        "FROM dws_inventory WHERE wms_co_id = 32"
    ).result_rows[0][0]
    client.close()
    return {"rate": achieved, "p50": p50, "p95": p95, "p99": p99, "max": worst}


SETUPS = {  # name -> (profile, Flink parallelism)
    "local": ("single", 1),
    "cluster-p1": ("cluster", 1),
    "cluster-p2": ("cluster", 2),
}


def run_setup(name: str, args: argparse.Namespace) -> dict[str, object]:
    """One setup on a fresh stack: throughput, latency, then each process's memory."""
    profile, parallelism = SETUPS[name]
    workdir = Path(tempfile.mkdtemp(prefix=f"erpbi-pipeline-bench-{name}-"))
    # The job as a user runs it (settings.yaml / ERPBI_FLINK__*), not the tests' 2 s checkpoints.
    flink = load_settings().flink
    settings = isolated_settings(workdir / "run", profile=profile, flink={
        "checkpoint_interval_ms": flink.checkpoint_interval_ms,
        "flush_interval_ms": flink.flush_interval_ms,
        "parallelism": parallelism,
    })  # fmt: skip
    data_path = [s.name for s in stack.selected(settings, None)
                 if s.name == "clickhouse" or s.name.startswith(("kafka", "flink-"))
                 and s.name != "flink-pipeline"]  # fmt: skip
    try:
        print(f"[{name}] starting {', '.join(data_path)}", file=sys.stderr, flush=True)
        stack.up(settings, data_path, report=lambda line: None)
        throughput = backlog_throughput(settings, args.backlog)
        print(f"[{name}] throughput {throughput}", file=sys.stderr, flush=True)
        latency = steady_latency(settings, args.rate, args.seconds)
        memory = {row.name: row.rss_mb for row in stack.status(settings) if row.running}
    finally:
        stack.down(settings, report=lambda line: None)
        shutil.rmtree(workdir, ignore_errors=True)
    return {"settings": settings, "throughput": throughput, "latency": latency,
            "memory": memory}  # fmt: skip


def main() -> int:
    exit_through_finally_on_sigterm()  # stops the stack on the way out
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backlog", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=1333)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--setups", default="local", help=f"comma-separated: {', '.join(SETUPS)}")
    args = parser.parse_args()
    names = [name.strip() for name in args.setups.split(",") if name.strip()]
    unknown = [name for name in names if name not in SETUPS]
    if unknown:
        parser.error(f"unknown setups {unknown}; known: {', '.join(SETUPS)}")
    results = {name: run_setup(name, args) for name in names}

    flink = load_settings().flink
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, state {flink.state_backend}, "
          f"flush every {flink.flush_interval_ms} ms, "
          f"checkpoint every {flink.checkpoint_interval_ms} ms")  # fmt: skip
    header = " | ".join(names)
    print(f"\n| sustained throughput, Kafka -> Flink -> ClickHouse (rows landed/s) | {header} |")
    print("|---|" + "---:|" * len(names))
    labels = [label for label, _ in results[names[0]]["throughput"]]  # type: ignore[attr-defined]
    for index, label in enumerate(labels):
        rates = [results[name]["throughput"][index][1] for name in names]  # type: ignore[index]
        print(f"| {label} | " + " | ".join(f"{rate:,.0f}" for rate in rates) + " |")
    print(f"\n| latency at {args.rate:,} records/s for {args.seconds} s after a 15 s warm-up "
          f"(Kafka append -> in ClickHouse), ms | {header} |")  # fmt: skip
    print("|---|" + "---:|" * len(names))
    for stat in ("rate", "p50", "p95", "p99", "max"):
        values = [results[name]["latency"][stat] for name in names]  # type: ignore[index]
        label = "achieved records/s" if stat == "rate" else stat
        print(f"| {label} | " + " | ".join(f"{value:,.0f}" for value in values) + " |")
    processes = sorted({p for name in names for p in results[name]["memory"]})  # type: ignore[attr-defined]
    print(f"\n| resident memory at the end of the latency run, MiB | {header} |")
    print("|---|" + "---:|" * len(names))
    for process in processes:
        cells = [results[name]["memory"].get(process) for name in names]  # type: ignore[attr-defined]
        print(f"| {process} | " + " | ".join("-" if c is None else f"{c:,.0f}" for c in cells)
              + " |")  # fmt: skip
    totals = [sum(results[name]["memory"].values()) for name in names]  # type: ignore[attr-defined]
    print("| **total** | " + " | ".join(f"**{total:,.0f}**" for total in totals) + " |")
    return 0

if __name__ == "__main__":
    sys.exit(main())
