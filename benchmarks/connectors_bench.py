"""Connector benchmarks against the in-process Jushuitan simulator (InMemoryProducer).

    .cache/venvs/core/bin/python benchmarks/connectors_bench.py [--quick] [--sections ...]

Sections (``--sections``, comma-separated; default ``load,quota,storm``):
  load   first load of the default simulator (2,000 SKUs x 4 warehouses, 2 days of
         documents) at the real quota (5/s, 100/min), against its quota-bound minimum
         (the fewest calls the data needs, at the quota's pace); then calls per minute
         by stream while the ERP is quiet (the adaptive polling's idle cost).
  large  the same first load for 30,000 SKUs x 4 warehouses with 7 days of documents
         (about 25 minutes: quota-bound).
  quota  requests/min achieved with a backlog, and the quota errors (199/200) answered.
  storm  a 60-second storm of HTTP 429 in follow mode: when the cadence degraded, and
         how long after the storm it was back to normal by itself.
ERP -> dws_inventory freshness through the whole stack: benchmarks/freshness_bench.py.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common.settings import Settings, SimulatorSettings, load_settings  # noqa: E402
from connectors.base import SyncReport  # noqa: E402
from connectors.cadence import Mode  # noqa: E402
from connectors.cli import STREAMS, build_cadence, build_source, run_sync  # noqa: E402
from connectors.jushuitan.source import ENDPOINTS  # noqa: E402
from connectors.kafka_producer import InMemoryProducer  # noqa: E402
from connectors.state import CursorStore  # noqa: E402
from erp_simulator import RunningSimulator, start_simulator  # noqa: E402
from erp_simulator.engine import TrafficSettings  # noqa: E402
from erp_simulator.gateway import SimulatorConfig  # noqa: E402

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


def first_load_calls(
    sku_count: int, shops: int, rows_per_warehouse: list[int], documents: dict[str, int]
) -> int:
    """The fewest calls a first load can make: every list at its API's page size, one
    call per list that turns out empty, the token and the warehouse list (read by the
    warehouse stream and by inventory's discovery)."""

    def pages(rows: int, stream: str) -> int:
        return max(1, math.ceil(rows / ENDPOINTS[stream].max_page_size))

    calls = 3 + pages(shops, "shop") + pages(sku_count, "sku")
    calls += sum(pages(rows, "inventory") for rows in rows_per_warehouse)
    return calls + sum(pages(count, stream) for stream, count in documents.items())


def needed_calls(sim: RunningSimulator) -> int:
    store = sim.store
    summary = store.summary()
    per_warehouse = Counter(wms_co_id for wms_co_id, _ in store.inventory)
    return first_load_calls(summary["sku_count"], len(store.shops),
                            list(per_warehouse.values()), summary["documents"])  # fmt: skip


def quota_minimum_seconds(calls: int, per_second: int = 5, per_minute: int = 100) -> float:
    """The least time ``calls`` calls take from an idle quota: the minute's calls go at
    ``per_second`` and then wait for the minute to turn."""
    if calls <= 1:
        return 0.0
    full_minutes, rest = divmod(calls - 1, per_minute)
    return full_minutes * 60.0 + rest / per_second


def loads_done(state_dir: Path) -> dict[str, float | None]:
    """Per stream, when its first load finished (epoch seconds) or None."""
    store = CursorStore(state_dir)
    done: dict[str, float | None] = {}
    for stream in STREAMS:
        record = store.load(stream).get("initial_load") or {}
        finished = record.get("done_ms")
        done[stream] = finished / 1000 if finished else None
    return done


def stream_calls(by_path: dict[str, int]) -> dict[str, int]:
    """The simulator's requests per API path, as calls per stream (token calls by path)."""
    names = {endpoint.path: name for name, endpoint in ENDPOINTS.items() if name != "shops"}
    out: dict[str, int] = {}
    for path, count in by_path.items():
        name = names.get(path, path.rsplit("/", 1)[-1])
        out[name] = out.get(name, 0) + int(count)
    return out


def calls_by_stream(sim: RunningSimulator) -> dict[str, int]:
    return stream_calls(sim.gateway.state()["requests_by_path"])


def print_table(rows: list[tuple[str, str]], footer: str) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)}  result")
    print(f"{'-' * width}  {'-' * 40}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    print(footer)


def initial_load(
    label: str, sku_count: int, days: float, orders_per_hour: float,
    rows: list[tuple[str, str]], *, idle_seconds: float = 0.0, timeout: float = 3600.0,
) -> None:
    """A first load at the real quota (5/s, 100/min) against its quota-bound minimum;
    then, with the ERP quiet, calls per minute by stream while idle."""
    sim = simulator(sku_count, orders_per_hour, days, quota=True)
    needed = needed_calls(sim)
    minimum = quota_minimum_seconds(needed)
    docs = sim.store.summary()["documents"]
    with tempfile.TemporaryDirectory() as tmp:
        settings = app_settings(sim, Path(tmp))
        state_dir = Path(tmp) / "run" / "data" / "connectors"
        stop = threading.Event()
        source = build_source(settings, state_dir)
        worker = threading.Thread(
            target=run_sync, args=(settings, list(STREAMS), True, stop),
            kwargs={"producer": InMemoryProducer(), "source": source, "state_dir": state_dir},
            daemon=True,
        )  # fmt: skip
        started = time.time()
        worker.start()
        done: dict[str, float | None] = {}
        shown = 0.0
        while time.time() - started < timeout and worker.is_alive():
            done = loads_done(state_dir)
            if all(done.values()):
                break
            if time.time() - shown >= 15:  # progress on stderr: the large load takes ~25 min
                shown = time.time()
                print(f"  {label}: {sum(calls_by_stream(sim).values())} of ~{needed} calls, "
                      f"{shown - started:.0f} s", file=sys.stderr, flush=True)
            time.sleep(0.5)
        calls = sum(calls_by_stream(sim).values())
        finished = [t for t in done.values() if t]
        elapsed = (max(finished) - started) if finished and all(done.values()) else None
        inventory = done.get("inventory")
        rows.append((f"initial load, {label}: {sku_count:,} SKUs x 4 warehouses, {days:g} days "
                     f"({docs['outbound']:,} outbound, {docs['refund']:,} refund, "
                     f"{docs['aftersale_received']:,} received)",
                     "NOT done" if elapsed is None else
                     f"{elapsed:.0f} s = {elapsed / max(minimum, 1e-9):.2f}x the quota-bound "
                     f"minimum {minimum:.0f} s ({calls} calls made, {needed} needed)"))
        if inventory:
            rows.append((f"initial load, {label}: inventory complete after",
                         f"{inventory - started:.0f} s"))
        if idle_seconds and elapsed is not None:
            before = calls_by_stream(sim)
            time.sleep(idle_seconds)
            after = calls_by_stream(sim)
            minutes = idle_seconds / 60
            per_stream = {k: (after.get(k, 0) - before.get(k, 0)) / minutes for k in after}
            shown = ", ".join(f"{k} {v:.1f}" for k, v in sorted(per_stream.items()) if v)
            rows.append((f"idle calls/min by stream ({idle_seconds:.0f} s, ERP quiet)",
                         f"{sum(per_stream.values()):.1f}/min: {shown}"))
        stop.set()
        worker.join(timeout=60)
    sim.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--sections", default="load,quota,storm",
                        help="comma-separated: load, large, quota, storm (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    sections = set(args.sections.split(","))
    rows: list[tuple[str, str]] = []
    started = time.monotonic()
    if "load" in sections:
        initial_load("default simulator", 500 if args.quick else 2000, 0.5 if args.quick else 2.0,
                     120.0, rows, idle_seconds=30.0 if args.quick else 120.0)  # fmt: skip
    if "large" in sections:
        initial_load("large merchant", 30_000, 7.0, 120.0, rows)
    if "quota" in sections:
        quota_backlog(0.5 if args.quick else 2.0, rows)
    if "storm" in sections:
        storm_drill(10.0 if args.quick else 60.0, 5.0 if args.quick else 20.0, rows)
    print_table(rows, f"(simulator in-process, InMemoryProducer, {platform.machine()}, "
                      f"{os.cpu_count()} cores; total {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
