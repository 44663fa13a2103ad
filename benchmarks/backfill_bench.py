"""Backfill benchmark: re-pull one ERP day of 50,000 outbound documents at the real quota
(5/s, 100/min, enforced by the simulator), against its quota-bound minimum.

    .cache/venvs/core/bin/python benchmarks/backfill_bench.py [--orders 50000] [--quick]

The minimum is the day's pages (documents / 50, the API's largest page) at 100 calls a
minute. The backfill runs alone here, so its background budget may take the whole quota
(with the live streams running it takes backfill.share_per_minute, default 30, instead).
Records go to an in-memory producer: the quota, not Kafka, bounds a backfill. The
reconciliation's cost per day is its listing pages: the same calls, measured on the
running stack with `erpbi reconcile --yesterday` (see README, Backfill).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from report_table import print_table  # noqa: E402

from backfill.days import Day  # noqa: E402
from backfill.repull import DayRepull, Totals  # noqa: E402
from common.settings import SimulatorSettings, load_settings  # noqa: E402
from connectors.cli import build_connectors, build_source  # noqa: E402
from connectors.jushuitan.quota import QuotaBudget  # noqa: E402
from connectors.kafka_producer import InMemoryProducer  # noqa: E402
from connectors.models import BEIJING  # noqa: E402
from connectors.state import CursorStore  # noqa: E402
from connectors.tscursor import TsCursorConnector  # noqa: E402
from erp_simulator import start_simulator  # noqa: E402
from erp_simulator.engine import TrafficSettings  # noqa: E402
from erp_simulator.gateway import SimulatorConfig  # noqa: E402

PAGE_SIZE = 50


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=50_000, help="documents in the day")
    parser.add_argument("--quick", action="store_true", help="2,000 documents (smoke test)")
    args = parser.parse_args(argv)
    orders = 2_000 if args.quick else args.orders
    started = time.monotonic()
    sim = start_simulator(
        SimulatorSettings(seed=5, sku_count=2000, warehouse_count=4, enforce_quota=True),
        port=0, config=SimulatorConfig(enforce_quota=True),
        traffic=TrafficSettings(orders_per_hour=orders / 24.0, backfill_days=2.0,
                                follow_curve=False),
    )  # fmt: skip
    setup = time.monotonic() - started
    day = Day(datetime.now(BEIJING).date() - timedelta(days=1))
    documents = sum(
        1 for row in sim.store.rows("outbound") if str(row["modified"])[:10] == str(day)
    )
    with tempfile.TemporaryDirectory() as tmp:
        base = load_settings()
        settings = base.model_copy(update={
            "jushuitan": sim.jushuitan_settings(page_size=PAGE_SIZE,
                                                quota_ledger_dir=Path(tmp) / "quota"),
            "paths": base.paths.model_copy(update={"run_dir": Path(tmp) / "run"}),
        })  # fmt: skip
        budget = QuotaBudget.from_settings(
            settings.jushuitan, background_share=settings.backfill.share_per_minute
        )
        source = build_source(settings, Path(tmp) / "state", budget=budget)
        producer = InMemoryProducer()
        store = CursorStore(Path(tmp) / "backfill")
        stop = threading.Event()
        [connector] = build_connectors(settings, ["outbound"], source=source, producer=producer,
                                       store=store, stop_event=stop)  # fmt: skip
        assert isinstance(connector, TsCursorConnector)
        totals = Totals()
        before = dict(sim.gateway.state()["replies_by_code"])
        began = time.monotonic()
        DayRepull(connector, store, stop_event=stop).run([day], totals)
        elapsed = time.monotonic() - began
        after = dict(sim.gateway.state()["replies_by_code"])
    sim.stop()
    refused = sum(after.get(c, 0) - before.get(c, 0) for c in ("199", "200"))
    pages = math.ceil(documents / PAGE_SIZE)
    minimum = pages / 100.0 * 60.0
    rows = [
        ("documents in the day (outbound)", f"{documents:,}"),
        ("rows re-pulled", f"{totals.rows:,}"),
        ("calls", f"{totals.calls:,} (pages of {PAGE_SIZE}: {pages:,})"),
        ("time", f"{elapsed:.0f} s"),
        ("quota-bound minimum (pages at 100/min)", f"{minimum:.0f} s"),
        ("time / minimum", f"{elapsed / minimum:.2f}"),
        ("calls per minute", f"{totals.calls / elapsed * 60:.1f}"),
        ("quota errors (199/200)", str(refused)),
        ("simulator setup", f"{setup:.0f} s"),
    ]
    print_table("backfill benchmark: one day", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
