"""ERP -> dws_inventory freshness through the whole single-machine stack. Prints a table.

    .cache/venvs/core/bin/python benchmarks/freshness_bench.py [--changes 20] [--quick]

On free ports with the default simulator (2,000 SKUs x 4 warehouses, two days of history
at 120 orders/h, the real quota of 5 calls/s and 100/min) and the user's default poll
and checkpoint settings:
  1. first load: when dws_inventory holds every ERP stock row, and when every outbound
     document is in dwd_sale_out, against the quota-bound minimum of the whole load;
  2. live traffic at 1,200 orders/h: ``--changes`` stock changes, one at a time at random
     moments; seconds from the ERP write until dws_inventory shows it (p50 / p95 / max);
  3. the same during a 50,000 orders/h promotion;
  4. the ERP quiet again: calls per minute by stream (the adaptive polling's idle cost).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from connectors_bench import (  # noqa: E402
    first_load_calls,
    print_table,
    quota_minimum_seconds,
    stream_calls,
)
from stack_bench import erp_matches_warehouse  # noqa: E402

from common.settings import FlinkSettings, Settings  # noqa: E402
from connectors.state import CursorStore  # noqa: E402
from erp_simulator.control import SimulatorControl  # noqa: E402
from erpbi import stack  # noqa: E402
from erpbi.processes import wait_until  # noqa: E402
from testkit.support import exit_through_finally_on_sigterm, isolated_settings  # noqa: E402
from warehouse.client import connect  # noqa: E402

LIVE_ORDERS_PER_HOUR = 1200.0
PROMOTION_ORDERS_PER_HOUR = 50_000.0


def needed_calls(erp: SimulatorControl) -> int:
    state = erp.state()
    per_warehouse = Counter(int(row["wms_co_id"]) for row in erp.inventory())
    return first_load_calls(state["sku_count"], len(erp.shops()),
                            list(per_warehouse.values()), state["documents"])  # fmt: skip


def load_started(settings: Settings) -> float | None:
    store = CursorStore(settings.paths.data_dir / "connectors")
    starts = [
        (store.load(stream).get("initial_load") or {}).get("started_ms")
        for stream in ("warehouse", "shop", "sku", "inventory", "outbound")
    ]
    known = [start for start in starts if start]
    return min(known) / 1000 if known else None


def outbound_landed(settings: Settings, erp: SimulatorControl) -> bool:
    client = connect(settings.clickhouse)
    try:
        landed = client.query("SELECT count() FROM dwd_sale_out FINAL").result_rows[0][0]
    finally:
        client.close()
    return int(landed) >= int(erp.state()["documents"]["outbound"])


def stock_shown(settings: Settings, sku_id: str, wms_co_id: int, qty: int) -> bool:
    client = connect(settings.clickhouse)
    try:
        rows = client.query(
            "SELECT qty FROM dws_inventory FINAL "
            "WHERE sku_id = {s:String} AND wms_co_id = {w:Int64}",
            parameters={"s": sku_id, "w": wms_co_id},
        ).result_rows
    finally:
        client.close()
    return bool(rows) and int(rows[0][0]) == qty


def changes_latency(
    settings: Settings, erp: SimulatorControl, count: int, rng: random.Random, base_qty: int
) -> list[float]:
    skus = [row["sku_id"] for row in erp.skus()]
    warehouses = [int(row["wms_co_id"]) for row in erp.warehouses()]
    latencies = []
    for number in range(count):
        sku_id, wms_co_id, qty = rng.choice(skus), rng.choice(warehouses), base_qty + number
        changed = time.monotonic()
        erp.set_inventory(sku_id, wms_co_id, qty=qty)
        shown = partial(stock_shown, settings, sku_id, wms_co_id, qty)
        if not wait_until(shown, 180, 0.1):
            latencies.append(float("inf"))
            continue
        latencies.append(time.monotonic() - changed)
        time.sleep(rng.uniform(0.5, 5.0))  # spacing: the next change falls anywhere in the cycle
    return latencies


def describe(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return (f"p50 {statistics.median(ordered):.1f} s, p95 {p95:.1f} s, max {ordered[-1]:.1f} s "
            f"({len(ordered)} changes)")  # fmt: skip


def calls_by_stream(erp: SimulatorControl) -> dict[str, int]:
    return stream_calls(erp.state()["requests_by_path"])


def rate_of(erp: SimulatorControl, seconds: float) -> float:
    before = int(erp.traffic()["counts"].get("orders", 0))
    time.sleep(seconds)
    return (int(erp.traffic()["counts"].get("orders", 0)) - before) * 3600 / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=120.0)
    parser.add_argument("--quick", action="store_true", help="500 SKUs, 5 changes (smoke test)")
    args = parser.parse_args()
    exit_through_finally_on_sigterm()
    changes = 5 if args.quick else args.changes
    rows: list[tuple[str, str]] = []
    rng = random.Random(20261202)
    with tempfile.TemporaryDirectory() as tmp:
        settings = isolated_settings(
            Path(tmp) / "run",
            simulator={"sku_count": 500 if args.quick else 2000, "warehouse_count": 4,
                       "backfill_days": 2, "orders_per_hour": 120, "live_orders_per_hour": 0},
            jushuitan={"poll_interval_seconds": 2.0},
            flink={"checkpoint_interval_ms": FlinkSettings().checkpoint_interval_ms},
        )  # fmt: skip
        try:
            stack.up(settings, report=lambda line: None)
            erp = SimulatorControl(settings.jushuitan.base_url)
            minimum = quota_minimum_seconds(needed_calls(erp))
            assert wait_until(lambda: erp_matches_warehouse(erp, settings), 1800, 1.0)
            inventory_at = time.time()
            assert wait_until(lambda: outbound_landed(settings, erp), 1800, 1.0)
            outbound_at = time.time()
            started = load_started(settings) or inventory_at
            rows.append(("first load: every ERP stock row in dws_inventory after",
                         f"{inventory_at - started:.0f} s"))
            rows.append(("first load: every outbound document in dwd_sale_out after",
                         f"{outbound_at - started:.0f} s = "
                         f"{(outbound_at - started) / minimum:.2f}x the quota-bound minimum "
                         f"of the whole load ({minimum:.0f} s)"))

            erp.start_traffic(orders_per_hour=LIVE_ORDERS_PER_HOUR)
            live = rate_of(erp, 30.0)
            latencies = changes_latency(settings, erp, changes, rng, 800_000)
            rows.append((f"ERP -> dws_inventory, live traffic ({live:.0f} orders/h measured)",
                         describe(latencies)))

            erp.start_promotion(PROMOTION_ORDERS_PER_HOUR)
            promotion = rate_of(erp, 30.0)
            latencies = changes_latency(settings, erp, changes, rng, 900_000)
            rows.append((f"ERP -> dws_inventory, promotion ({promotion:.0f} orders/h measured)",
                         describe(latencies)))
            erp.stop_promotion()
            erp.stop_traffic()

            time.sleep(60.0)  # the pauses grow back to their bounds once polls come back empty
            before = calls_by_stream(erp)
            time.sleep(args.idle_seconds)
            after = calls_by_stream(erp)
            per_minute = {name: (after.get(name, 0) - before.get(name, 0)) * 60 / args.idle_seconds
                          for name in after}  # fmt: skip
            shown = ", ".join(f"{k} {v:.1f}" for k, v in sorted(per_minute.items()) if v)
            rows.append((f"idle calls/min by stream ({args.idle_seconds:.0f} s, ERP quiet)",
                         f"{sum(per_minute.values()):.1f}/min: {shown}"))
        finally:
            stack.down(settings, report=lambda line: None)
    print_table(rows, f"({platform.machine()}, {os.cpu_count()} cores, default poll settings, "
                      f"checkpoint every {settings.flink.checkpoint_interval_ms} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
