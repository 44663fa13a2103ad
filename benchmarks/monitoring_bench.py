"""ERP change -> the screen's chart-data answer, per stream, and what monitoring costs.

    .cache/venvs/core/bin/python benchmarks/monitoring_bench.py [--running] [--changes 12]

For each stream a screen shows (inventory: 实时库存总览, outbound: 销售出库趋势,
aftersale: 售后监控) a record is changed in the ERP simulator (a stock level set, an
outbound or refund document re-saved: its ``modified`` is now) and timed until
  - the warehouse holds the record's new version (its table, read without any cache), then
  - the screen's own chart-data answer shows it: its 数据截至 chart reaches that
    ``modified``, asked as the browser asks (``/api/v1/chart/<id>/data/``, no ``force``:
    through Superset's response cache and the warehouse's query cache),
first at live traffic of 1,200 orders/hour, then during a 50,000 orders/hour promotion.
Then the monitoring's own cost: CPU and resident memory of Prometheus, Alertmanager and
the monitor process over the run. Goal: p95 <= 15 s for inventory and outbound.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

from alerts_bench import measured_stack  # noqa: E402

from common.settings import Settings  # noqa: E402
from dashboards.superset_client import SupersetApiError, SupersetClient  # noqa: E402
from erp_simulator.control import SimulatorControl  # noqa: E402
from erpbi.processes import (  # noqa: E402
    ManagedProcess,
    cpu_seconds,
    resident_memory_mb,
    wait_until,
)
from testkit.support import exit_through_finally_on_sigterm  # noqa: E402
from warehouse.client import connect  # noqa: E402

VISIBLE_TIMEOUT_SECONDS = 120.0
STREAMS = {  # screen stream -> (simulator stream, the screen's 数据截至 chart)
    "inventory": ("inventory", "库存数据截至"),
    "outbound": ("outbound", "出库数据截至"),
    "aftersale": ("refund", "售后数据截至"),
}
LANDED = {  # screen stream -> the warehouse row that shows one change: table, key column
    "inventory": ("dws_inventory_current", "concat(sku_id, '|', toString(wms_co_id))"),
    "outbound": ("dwd_sale_out", "io_id"),
    "aftersale": ("dwd_refund", "as_id"),
}
MONITORING = ("prometheus", "alertmanager", "monitor")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def wall_ms(modified: str) -> int:
    """An ERP ``modified`` (GMT+8 wall clock text) as the 数据截至 charts show it: epoch
    milliseconds of that wall clock read as UTC (serving_freshness.newest_ms)."""
    moment = datetime.fromisoformat(str(modified).replace("T", " "))
    return int((moment - datetime(1970, 1, 1)).total_seconds() * 1000)


class Screens:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = SupersetClient.login(settings.superset)
        self.chart_ids = {stream: int(self.client.find("chart", slice_name=name)[0]["id"])
                          for stream, (_, name) in STREAMS.items()}  # fmt: skip
        self.warehouse = connect(settings.clickhouse)

    def chart_newest_ms(self, stream: str) -> int:
        path = f"/api/v1/chart/{self.chart_ids[stream]}/data/"
        try:
            body = self.client.get(path, format="json", type="full")
        except SupersetApiError as error:  # the API token lives 15 minutes: log in again
            if "401" not in str(error):
                raise
            self.client = SupersetClient.login(self.settings.superset)
            body = self.client.get(path, format="json", type="full")
        rows = [row for query in body["result"] for row in query["data"]]
        return int(next(iter(rows[0].values()))) if rows else 0

    def landed(self, stream: str, key: str, modified: str) -> bool:
        """The changed record's new version is in the warehouse (no cache on the way)."""
        table, column = LANDED[stream]
        rows = self.warehouse.query(
            f"SELECT count() FROM {table} WHERE {column} = {{k:String}} "
            "AND modified >= {m:String}", parameters={"k": key, "m": modified},
            settings={"use_query_cache": 0}).result_rows  # fmt: skip
        return bool(rows and rows[0][0])


def change(erp: SimulatorControl, stream: str, positions: Iterator[tuple[str, int]],
           ) -> tuple[str, str]:  # fmt: skip
    """One ERP change of ``stream``: the changed record's key and its new ``modified``."""
    source = STREAMS[stream][0]
    if source == "inventory":
        sku, wms = next(positions)
        row = erp.set_inventory(sku, wms, qty=int(time.time()) % 500 + 10)
        return f"{sku}|{wms}", str(row["modified"])
    row = erp.touch(source)
    return str(row["io_id" if source == "outbound" else "as_id"]), str(row["modified"])


def timed(until: Callable[[], bool], started: float) -> float | None:
    if not wait_until(until, VISIBLE_TIMEOUT_SECONDS, 0.25):
        return None
    return time.monotonic() - started


def measure(settings: Settings, erp: SimulatorControl, screens: Screens, changes: int,
            label: str) -> list[list[Any]]:  # fmt: skip
    skus = [row["sku_id"] for row in erp.skus()[:changes]]
    wms = int(erp.warehouses()[0]["wms_co_id"])
    rows = []
    for stream in STREAMS:
        positions = iter([(sku, wms) for sku in skus])
        to_warehouse: list[float] = []
        to_screen: list[float] = []
        for number in range(changes):
            began = time.monotonic()
            key, modified = change(erp, stream, positions)
            wanted = wall_ms(modified)
            landed = timed(lambda s=stream, k=key, m=modified: screens.landed(s, k, m), began)
            shown = timed(lambda s=stream, w=wanted: screens.chart_newest_ms(s) >= w, began)
            if landed is None or shown is None:
                print(f"  {label} {stream}: change {number + 1} not visible within "
                      f"{VISIBLE_TIMEOUT_SECONDS:.0f} s", flush=True)  # fmt: skip
                continue
            to_warehouse.append(landed)
            to_screen.append(shown)
            print(f"  {label} {stream:<10} {number + 1:>2}/{changes}: warehouse {landed:5.1f} s,"
                  f" screen {shown:5.1f} s", flush=True)  # fmt: skip
            time.sleep((number % 3) * 1.7)  # changes at varied moments of the poll cycle
        if to_screen:
            rows.append([label, stream, len(to_screen),
                         percentile(to_warehouse, 0.5), percentile(to_warehouse, 0.95),
                         percentile(to_screen, 0.5), percentile(to_screen, 0.95),
                         max(to_screen)])  # fmt: skip
    return rows


def monitoring_pids(settings: Settings) -> dict[str, int]:
    pids = {}
    for name in MONITORING:
        pid = ManagedProcess(name, settings.paths.pids_dir, settings.paths.logs_dir).pid()
        if pid:
            pids[name] = pid
    return pids


def print_table(header: list[str], rows: list[list[Any]]) -> None:
    cells = [[f"{c:.1f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--running", action="store_true",
        help="measure the stack `erpbi up` started (default: start one)",
    )  # fmt: skip
    parser.add_argument("--changes", type=int, default=12, help="changes per stream and load")
    parser.add_argument("--loads", default="1200,50000",
                        help="orders/hour to measure at, comma-separated (the first is live "
                        "traffic, the others promotions on top of it)")  # fmt: skip
    args = parser.parse_args()
    exit_through_finally_on_sigterm()
    simulator = {
        "sku_count": 2000,
        "warehouse_count": 4,
        "backfill_days": 2,
        "orders_per_hour": 120,
    }  # the defaults of `erpbi up`
    with measured_stack(args.running, simulator) as settings:
        erp = SimulatorControl(settings.jushuitan.base_url)
        screens = Screens(settings)
        pids = monitoring_pids(settings)
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        began = time.monotonic()
        rows: list[list[Any]] = []
        try:
            loads = [int(load) for load in args.loads.split(",")]
            erp.start_traffic(orders_per_hour=1200)
            for number, load in enumerate(loads):
                if number or load != 1200:
                    erp.start_promotion(orders_per_hour=load)
                rows += measure(settings, erp, screens, args.changes, f"{load:,}/h")
        finally:
            erp.stop_promotion()
            erp.stop_traffic()
        wall = time.monotonic() - began
        cost = [[name, (cpu_seconds(pid) - cpu_before[name]) / wall * 100,
                 resident_memory_mb(pid)] for name, pid in pids.items()]  # fmt: skip
    print(f"\nERP change -> visible, seconds (machine: {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()})")  # fmt: skip
    print_table(["load", "stream", "changes", "warehouse p50", "warehouse p95",
                 "screen p50", "screen p95", "screen max"], rows)  # fmt: skip
    print(f"\nmonitoring's own cost over {wall:.0f} s (scrape every "
          f"{settings.monitoring.scrape_interval_seconds:g} s, record every "
          f"{settings.monitoring.record_every_seconds:g} s)")  # fmt: skip
    print_table(["process", "CPU %", "RSS MiB"], cost)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
