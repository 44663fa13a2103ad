"""The fault drill: the whole stack at the mission's peak of 1,333 records/s (about 80,000
Kafka messages a minute), faults over about 15 minutes, then a per-key audit of the ERP and
of the load against the warehouse (see ``testkit/drill.py``).

The ERP simulator runs a 50,000 orders/hour promotion, which its quota-bound API carries
into Kafka at a few dozen records a second; ``--records-per-second`` more go straight onto
the ODS topics (stock rows and outbound documents with items, new keys and newer versions),
each key remembered and audited like the ERP's.

    .cache/venvs/core/bin/python benchmarks/drill.py                 # the whole drill
    .cache/venvs/core/bin/python benchmarks/drill.py --minutes 5 --kills 3
    .cache/venvs/core/bin/python benchmarks/drill.py --profile cluster --minutes 10 --kills 8

Faults, in a seeded random order at seeded random moments: ``--kills`` SIGKILLs spread
over the connector, the Flink job, the warehouse server, the alert service and Superset
(each restarted as `erpbi up` would); a Kafka broker restart; the warehouse server down
for 30 s; a 60 s 429 storm; slow and repeated ERP pages; a row ClickHouse refuses; and 1 %
of the ODS traffic malformed throughout. Prints each fault's recovery time (until a fresh
ERP stock change reaches the warehouse), lost / duplicated / wrong keys per stream (the
ERP's and the feed's), the serving layer's disagreements with the DWD, screen 7's numbers
against the documents, and dead letters against injected records.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from report_table import print_table

from erp_simulator import SimulatorControl
from erpbi import stack
from erpbi.processes import wait_until
from testkit.drill import SCREEN_NUMBERS, Drill, audit_streams
from testkit.support import exit_through_finally_on_sigterm, isolated_settings
from warehouse.client import connect

# SIGKILLed in turn; each is restarted as `erpbi up` would
KILLED = {
    "single": ("connector", "flink-pipeline", "clickhouse", "alerter", "superset"),
    # the cluster profile: a TaskManager, the JobManager (the keeper resubmits the job), a
    # broker, either warehouse server (the clients move to the other; it catches up)
    "cluster": ("flink-taskmanager-1", "clickhouse", "kafka-2", "flink-jobmanager",
                "clickhouse-2", "connector", "flink-taskmanager-2", "superset"),
}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=15.0, help="how long faults go on")
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs among the services")
    parser.add_argument("--orders-per-hour", type=float, default=50_000)
    parser.add_argument("--records-per-second", type=float, default=1_333,
                        help="the load written straight onto the ODS topics")  # fmt: skip
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--profile", choices=sorted(KILLED), default="single",
                        help="the stack to drill: the single-machine default or the cluster "
                        "profile (Flink cluster, 3 brokers, 2 warehouse servers)")  # fmt: skip
    args = parser.parse_args()
    exit_through_finally_on_sigterm()
    run_dir = Path(tempfile.mkdtemp(prefix="erpbi-drill-")) / "run"
    # the e2e suite's shop: three days of history, then the promotion on top
    history = {"sku_count": 1000, "warehouse_count": 2, "backfill_days": 3, "orders_per_hour": 40}
    settings = isolated_settings(run_dir, profile=args.profile, simulator=history)
    print(f"starting a stack in {run_dir} ...", flush=True)
    stack.up(settings, report=lambda line: None)
    erp = SimulatorControl(f"http://127.0.0.1:{settings.simulator.port}")
    warehouse = connect(settings.clickhouse)
    try:
        print("waiting for the first load ...", flush=True)
        loaded = wait_until(lambda: not audit_streams(erp, warehouse)[0].lost, 900, 5.0)
        if not loaded:
            print("the first load did not finish within 15 minutes", file=sys.stderr)
            return 1
        drill = Drill(settings, erp, warehouse, seed=args.seed)
        drill.live_traffic(orders_per_hour=args.orders_per_hour)
        drill.start_feed(args.records_per_second)
        drill.start_malformed(share=0.01)
        plan = fault_plan(drill, KILLED[args.profile], args.kills, random.Random(args.seed))
        moments = fault_moments(len(plan), args.minutes * 60, random.Random(args.seed + 1))
        for (name, fault), at in zip(plan, moments, strict=True):
            wait = at - (time.monotonic() - drill.began)
            if wait > 0:
                time.sleep(wait)  # the schedule: faults at random moments
            result = drill.inject(name, fault)
            recovered = (
                "not recovered" if result.recovered_s is None else f"{result.recovered_s:.1f} s"
            )
            print(f"  {result.started_s:7.1f} s  {name:<28} recovered in {recovered}", flush=True)
        rest = args.minutes * 60 - (time.monotonic() - drill.began)
        if rest > 0:
            time.sleep(rest)  # the load goes on for the whole drill, after the last fault too
        print("settling and auditing ...", flush=True)
        report = drill.settle_and_audit(timeout=900.0)
    finally:
        warehouse.close()
        erp.close()
        stack.down(settings, report=lambda line: None)
    rows = [(f"{r.name} at {r.started_s:.0f} s",
             "not recovered" if r.recovered_s is None else f"recovered in {r.recovered_s:.1f} s")
            for r in report.faults]  # fmt: skip
    rows += [
        (
            "load straight onto Kafka",
            f"{report.fed_records:,} records, {report.fed_rate:,.0f} records/s",
        )
    ]
    rows += [(f"audit {a.stream} ({a.erp_keys:,} keys)",
              f"lost {len(a.lost)} / duplicated {len(a.duplicated)} / wrong {len(a.wrong)}")
             for a in report.audits]  # fmt: skip
    rows += [
        ("serving layer vs DWD", f"{len(report.serving_differ)} shop-days differ"),
        ("screen 7's numbers vs the documents",
         "; ".join(report.screen_differ) or f"all {len(SCREEN_NUMBERS)} agree"),
        ("malformed records", f"{report.bad_injected} injected, "
                              f"{report.bad_dead_lettered} dead-lettered"),
        ("rows ClickHouse refused", f"{report.rejected_injected} injected, "
                                    f"{report.rejected_dead_lettered} dead-lettered"),
        ("settle after the traffic stopped", f"{report.settle_seconds:.0f} s"),
    ]  # fmt: skip
    print_table(
        f"fault drill ({args.profile}), {args.minutes:g} min: "
        f"{args.records_per_second:,.0f} records/s "
        f"onto Kafka and {args.orders_per_hour:,.0f} orders/h in the ERP",
        rows,
    )
    for audit in report.audits:
        for kind in ("lost", "duplicated", "wrong"):
            keys = getattr(audit, kind)
            if keys:
                print(f"  {audit.stream} {kind}: {keys[:10]}")
    return 0 if report.clean and all(r.recovered_s is not None for r in report.faults) else 1


def fault_moments(count: int, seconds: float, chooser: random.Random) -> list[float]:
    """``count`` seeded random moments within ``seconds``, in order (one generator for all:
    a generator made per draw gave every fault the same moment, so they ran back to back)."""
    return sorted(chooser.uniform(0, seconds) for _ in range(count))


def fault_plan(
    drill: Drill, killed: tuple[str, ...], kills: int, chooser: random.Random
) -> list[tuple[str, object]]:
    """The faults in a seeded random order: ``kills`` SIGKILLs, then the rest."""
    plan: list[tuple[str, object]] = [
        (f"SIGKILL {service}", drill.sigkill(service))
        for service in (killed[i % len(killed)] for i in range(kills))
    ]
    plan += [
        ("Kafka broker restart", drill.restart_kafka),
        ("warehouse down 30 s", drill.warehouse_down(30.0)),
        ("429 storm 60 s", drill.storm(60.0)),
        ("slow and repeated ERP pages", drill.slow_and_repeated_pages),
        ("a row ClickHouse refuses", drill.rejected_row),
    ]
    chooser.shuffle(plan)
    return plan


if __name__ == "__main__":
    sys.exit(main())
