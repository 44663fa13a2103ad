"""ERP stock change -> Feishu card through the whole stack. Prints a table.

    .cache/venvs/core/bin/python benchmarks/alerts_bench.py [--running] [--changes 20]
        [--every 15]

``--changes`` sellable, stocked SKU x warehouse positions are set to 0 in the ERP
simulator one at a time; each is timed from the ERP write until a Feishu card naming it
arrives at a local Feishu receiver (signature, timestamp and rate limit checked as Feishu
does). The path: simulator -> connector -> Kafka -> Flink -> ClickHouse -> `erpbi alerts
run` (its own process and state file, evaluating every ``--every`` seconds, the product
default 15) -> Feishu robot. Every position is put back afterwards. Goal: p95 <= 30 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from common.settings import Settings, load_settings  # noqa: E402
from dashboards.alerting.rules import load_rules  # noqa: E402
from erp_simulator.control import SimulatorControl  # noqa: E402
from erpbi import stack  # noqa: E402
from erpbi.processes import wait_until  # noqa: E402
from testkit.alert_process import AlertProcess  # noqa: E402
from testkit.chat_receivers import ChatReceivers  # noqa: E402
from testkit.support import exit_through_finally_on_sigterm, isolated_settings  # noqa: E402
from warehouse.client import connect  # noqa: E402

CARD_TIMEOUT_SECONDS = 120.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def stocked_positions(settings: Settings, count: int) -> list[tuple[str, int]]:
    client = connect(settings.clickhouse)
    try:
        rows = client.query(
            f"SELECT sku_id, wms_co_id FROM ({load_rules()['stock_out'].query}) "
            f"WHERE value > 5 ORDER BY cityHash64(sku_id, wms_co_id) LIMIT {int(count)}"
        ).result_rows
    finally:
        client.close()
    return [(str(sku), int(wms)) for sku, wms in rows]


def card_latencies(settings: Settings, changes: int, every: float) -> list[float]:
    erp = SimulatorControl(settings.jushuitan.base_url)
    positions = stocked_positions(settings, changes)
    if len(positions) < changes:
        raise SystemExit(f"only {len(positions)} stocked sellable positions in the warehouse")
    originals = {(sku, wms): next(r for r in erp.inventory(wms) if r["sku_id"] == sku)
                 for sku, wms in positions}  # fmt: skip
    latencies: list[float] = []
    with ChatReceivers() as receivers, tempfile.TemporaryDirectory() as tmp:
        alerter = AlertProcess(settings, receivers, Path(tmp) / "alerts.sqlite", every)
        alerter.start()
        try:
            for number, (sku, wms) in enumerate(positions, 1):
                start = len(receivers.received["feishu"])
                changed = time.monotonic()
                erp.set_inventory(sku, wms, qty=0, virtual_qty=0, order_lock=0, lock_qty=0)

                def arrived(sku: str = sku, start: int = start) -> bool:
                    return any(sku in str(a.body) for a in receivers.received["feishu"][start:])

                if not wait_until(arrived, CARD_TIMEOUT_SECONDS, 0.1):
                    raise SystemExit(f"no card for {sku} within {CARD_TIMEOUT_SECONDS:.0f} s")
                latencies.append(time.monotonic() - changed)
                print(f"  change {number:>2}/{changes}: {latencies[-1]:5.1f} s", flush=True)
        finally:
            alerter.stop()
            for (sku, wms), row in originals.items():
                erp.set_inventory(
                    sku,
                    wms,
                    qty=row["qty"],
                    virtual_qty=row["virtual_qty"],
                    order_lock=row["order_lock"],
                    lock_qty=row["lock_qty"],
                )
            erp.close()
    return latencies


@contextmanager
def measured_stack(running: bool, simulator: dict[str, object] | None = None,
                   ) -> Iterator[Settings]:  # fmt: skip
    """The stack `erpbi up` started, or one started here (by default 3 days of history at
    13 orders/h) and stopped."""
    if running:
        yield load_settings()
        return
    with tempfile.TemporaryDirectory() as tmp:
        settings = isolated_settings(
            Path(tmp) / "run",
            simulator=simulator or {"sku_count": 1000, "warehouse_count": 2,
                                    "backfill_days": 3, "orders_per_hour": 13},
        )  # fmt: skip
        try:
            stack.up(settings, report=lambda line: None)
            yield settings
        finally:
            stack.down(settings, report=lambda line: None)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--running",
        action="store_true",
        help="measure the stack `erpbi up` started (default: start one)",
    )
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument(
        "--every",
        type=float,
        default=15.0,
        help="the alert service's evaluation interval (product default 15 s)",
    )
    args = parser.parse_args()
    exit_through_finally_on_sigterm()
    with measured_stack(args.running) as settings:
        latencies = card_latencies(settings, args.changes, args.every)
    print(f"\nERP stock -> 0 until the Feishu card, {len(latencies)} changes, evaluation "
          f"every {args.every:g} s ({platform.machine()}, {os.cpu_count()} cores)")  # fmt: skip
    print(f"{'p50':>8}{'p95':>8}{'max':>8}{'mean':>8}")
    print(f"{percentile(latencies, 0.5):>7.1f}s{percentile(latencies, 0.95):>7.1f}s"
          f"{max(latencies):>7.1f}s{statistics.mean(latencies):>7.1f}s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
