"""Connector benchmarks against the in-process Jushuitan simulator (InMemoryProducer).

    .cache/venvs/core/bin/python benchmarks/connectors_bench.py [--quick]

1. Quota use with a backlog: requests/min achieved against 5/s + 100/min, and the quota
   errors (199/200) the server answered. Goal: >= 95 % of the allowed calls, zero errors.
2. 429 storm drill: a 60-second storm of HTTP 429 in follow mode; when the cadence
   degraded, and how long after the storm it was back to normal by itself.
3. Initial load: 30,000 SKUs x 4 warehouses plus one peak day of orders, all streams.
   The quota-bound load needs thousands of calls (~100/min), so it runs with the
   simulator's quota raised and reports the projected quota-bound time from the calls
   it needed and the rate measured in 1.
Records/s per stream come from 1 (quota-bound) and 3 (raised quota).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common.settings import Settings, SimulatorSettings, load_settings  # noqa: E402
from connectors.base import SyncReport  # noqa: E402
from connectors.cadence import Mode  # noqa: E402
from connectors.cli import STREAMS, build_cadence, build_source, run_sync  # noqa: E402
from connectors.kafka_producer import InMemoryProducer  # noqa: E402
from connectors.simulator import RunningSimulator, start_simulator  # noqa: E402
from connectors.simulator.engine import TrafficSettings  # noqa: E402
from connectors.simulator.gateway import SimulatorConfig  # noqa: E402

QUOTA_CODES = ("199", "200")


def simulator(
    sku_count: int, orders_per_hour: float, days: float, *, quota: bool, seed: int = 11
) -> RunningSimulator:
    return start_simulator(
        SimulatorSettings(seed=seed, sku_count=sku_count, warehouse_count=4, enforce_quota=quota),
        port=0,
        config=SimulatorConfig(enforce_quota=quota),
        traffic=TrafficSettings(
            orders_per_hour=orders_per_hour, backfill_days=days, follow_curve=False
        ),
    )


def app_settings(sim: RunningSimulator, state_dir: Path, **jushuitan: Any) -> Settings:
    base = load_settings()
    return base.model_copy(
        update={
            "jushuitan": sim.jushuitan_settings(
                page_size=100, poll_interval_seconds=2.0, **jushuitan
            ),
            "paths": base.paths.model_copy(update={"run_dir": state_dir / "run"}),
        }
    )


def codes(sim: RunningSimulator) -> dict[str, int]:
    return dict(sim.gateway.state()["replies_by_code"])


def run_for(
    settings: Settings, seconds: float, *, cadence_hook: Callable[[Any], None] | None = None
) -> tuple[dict[str, SyncReport], float, Any]:
    """Follow every stream for ``seconds``; returns totals, elapsed, cadence."""
    source = build_source(settings)
    producer = InMemoryProducer()
    stop = threading.Event()
    holder: dict[str, Any] = {}
    connectors_probe = build_cadence(settings, source, [])
    holder["cadence"] = connectors_probe

    def target() -> None:
        holder["totals"] = run_sync(
            settings, list(STREAMS), True, stop, producer=producer, source=source,
            cadence=holder["cadence"],
        )  # fmt: skip

    worker = threading.Thread(target=target, daemon=True)
    started = time.monotonic()
    worker.start()
    if cadence_hook is not None:
        cadence_hook(holder["cadence"])
    else:
        stop.wait(seconds)
    stop.set()
    worker.join(timeout=120)
    return holder.get("totals", {}), time.monotonic() - started, holder["cadence"]


def quota_backlog(minutes: float, rows: list[tuple[str, str]]) -> float:
    sim = simulator(2000, 300, 2.0, quota=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = app_settings(sim, Path(tmp))
        before = codes(sim)
        totals, elapsed, _ = run_for(settings, minutes * 60)
        after = codes(sim)
    sim.stop()
    accepted = after.get("0", 0) - before.get("0", 0)
    refused = sum(after.get(c, 0) - before.get(c, 0) for c in QUOTA_CODES)
    per_minute = accepted / (elapsed / 60)
    rows.append(("quota: requests/min with a backlog (limit 100; page size = API max)",
                 f"{per_minute:.1f}/min = {per_minute:.1f} % of allowed ({elapsed:.0f} s run)"))
    rows.append(("quota: 199/200 errors in steady state", str(refused)))
    for stream, report in totals.items():
        if report.records:
            rows.append((f"quota-bound records/s: {stream}",
                         f"{report.records / elapsed:.1f} ({report.records} in {elapsed:.0f} s)"))
    return per_minute


def storm_drill(storm_seconds: float, warmup: float, rows: list[tuple[str, str]]) -> None:
    sim = simulator(500, 200, 0.5, quota=True)
    marks: dict[str, float] = {}

    def drill(cadence: Any) -> None:
        time.sleep(warmup)
        sim.gateway.start_storm(storm_seconds, http_status=429, retry_after=1.0)
        marks["storm_start"] = time.monotonic()
        marks["storm_end"] = marks["storm_start"] + storm_seconds
        deadline = marks["storm_end"] + 400
        while time.monotonic() < deadline:
            if cadence.mode is Mode.DEGRADED and "degraded" not in marks:
                marks["degraded"] = time.monotonic()
            if (time.monotonic() > marks["storm_end"] and cadence.mode is Mode.NORMAL
                    and cadence.next_delay <= cadence.poll_seconds):
                marks["normal"] = time.monotonic()
                break
            time.sleep(0.1)
        before = codes(sim)
        time.sleep(20)  # steady state after recovery: no quota errors
        after = codes(sim)
        marks["errors_after"] = sum(after.get(c, 0) - before.get(c, 0) for c in QUOTA_CODES)

    with tempfile.TemporaryDirectory() as tmp:
        settings = app_settings(sim, Path(tmp))
        run_for(settings, 0, cadence_hook=drill)
    storm = sim.gateway.state()["storm"]
    sim.stop()
    degraded = marks.get("degraded")
    answered = storm.get("answered", "?")
    rows.append((f"storm: {storm_seconds:.0f} s of HTTP 429 ({answered} answered)",
                 "degraded after " + (f"{degraded - marks['storm_start']:.0f} s" if degraded
                                      else "- (streak shorter than degrade_after)")))
    normal = marks.get("normal")
    rows.append(("storm: back to normal cadence after the storm",
                 f"{normal - marks['storm_end']:.1f} s" if normal else "NOT within 400 s"))
    rows.append(("storm: 199/200 errors in the 20 s after recovery",
                 str(marks.get("errors_after", "?"))))


def initial_load(orders_per_hour: float, quota_rate: float, rows: list[tuple[str, str]]) -> None:
    sim = simulator(30_000, orders_per_hour, 1.0, quota=False)
    documents = sim.store.summary()["documents"]
    with tempfile.TemporaryDirectory() as tmp:
        settings = app_settings(sim, Path(tmp), requests_per_second=0, requests_per_minute=0,
                                min_call_interval_seconds=0.0)
        source = build_source(settings)
        started = time.monotonic()
        totals = run_sync(settings, list(STREAMS), False, producer=InMemoryProducer(),
                          source=source)  # fmt: skip
        elapsed = time.monotonic() - started
    calls = sim.gateway.state()["requests_by_path"]
    sim.stop()
    total_calls = sum(calls.values())
    rows.append((f"initial load: 30,000 SKUs x 4 warehouses + 1 day at {orders_per_hour:.0f} "
                 f"orders/h ({documents['outbound']} outbound docs)",
                 f"{elapsed:.1f} s with the quota raised (unlimited), {total_calls} calls"))
    rows.append(("initial load: projected at the real quota",
                 f"{total_calls / quota_rate:.1f} min ({total_calls} calls at "
                 f"{quota_rate:.1f}/min measured above)"))
    for stream, report in totals.items():
        rows.append((f"initial load records/s: {stream}",
                     f"{report.records / elapsed:.0f} ({report.records} records)"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--peak-orders-per-hour", type=float, default=2000.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    rows: list[tuple[str, str]] = []
    started = time.monotonic()
    rate = quota_backlog(0.5 if args.quick else 2.0, rows)
    storm_drill(10.0 if args.quick else 60.0, 5.0 if args.quick else 20.0, rows)
    initial_load(200.0 if args.quick else args.peak_orders_per_hour, rate, rows)
    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)}  result")
    print(f"{'-' * width}  {'-' * 40}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    print(f"(simulator in-process, InMemoryProducer; total {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
