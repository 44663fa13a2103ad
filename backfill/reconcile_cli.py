"""`erpbi reconcile`: compare ERP days with the warehouse, repair the difference, report.

    erpbi reconcile --all --from 2026-11-20 --to 2026-11-26   # a range, on demand
    erpbi reconcile --stream outbound --from 2026-12-01
    erpbi reconcile --yesterday                                # the nightly T-1 job, once
    erpbi reconcile nightly                                    # run it every night (stack)
    erpbi backfill status                                      # the report, per stream and day

A day costs its listing pages (rows / page size per stream, per warehouse for inventory)
and, when facts wait for a late dimension, one call per 50 of them (100 for stock). Only
missing and stale keys are re-landed. The report goes to ops_reconciliation; a difference
left after the repair fires the reconciliation_left_over alert.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

from backfill.cli import (
    background_connectors,
    columns_header,
    days_parser,
    progress_store,
    stop_on_signals,
)
from backfill.days import BACKFILL_STREAMS, Day, days_between, yesterday
from backfill.reconcile import DayReport, Reconciler, new_run_id, save_reports
from common.settings import Settings
from connectors.models import BEIJING
from warehouse.client import connect

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = days_parser("erpbi reconcile", __doc__, "reconcile (default: all)")
    when = parser.get_default("when")
    when.add_argument("--yesterday", action="store_true", help="T-1, as the nightly job")
    return parser


def main(settings: Settings, argv: Sequence[str]) -> int:
    if list(argv[:1]) == ["nightly"]:
        return run_nightly(settings)
    parser = build_parser()
    args = parser.parse_args(list(argv))
    streams = list(dict.fromkeys(args.stream)) if args.stream else list(BACKFILL_STREAMS)
    if args.yesterday:
        days, trigger = [Day(yesterday())], "nightly"
    elif args.first is not None:
        try:
            days, trigger = list(days_between(args.first, args.last or args.first)), "manual"
        except ValueError as error:
            parser.error(str(error))
    else:
        parser.error("say which days: --from DATE [--to DATE], or --yesterday")
    reports = run_reconcile(settings, streams, days, trigger=trigger)
    print(format_reports(reports))
    return 1 if any(report.left_over for report in reports) else 0


def run_reconcile(
    settings: Settings,
    streams: Sequence[str],
    days: Sequence[Day],
    *,
    trigger: str = "manual",
    stop_event: threading.Event | None = None,
) -> list[DayReport]:
    """Reconcile ``days`` of ``streams``, repair, and save the report rows."""
    stop_event = stop_event or threading.Event()
    budget, producer, connectors = background_connectors(
        settings, streams, progress_store(settings), stop_event
    )
    client = connect(settings.clickhouse)
    restore = stop_on_signals(stop_event, budget)
    run_id = new_run_id()
    try:
        reconciler = Reconciler(
            connectors, client,
            repair_wait_seconds=settings.backfill.repair_wait_seconds,
            rewiden_days=settings.backfill.rewiden_days,
            max_rereads=settings.backfill.max_day_rereads,
            stop_event=stop_event,
            on_day=lambda report: log.info("reconciled %s", format_line(report)),
        )  # fmt: skip
        reports = reconciler.run(days)
        save_reports(client, reports, run_id, trigger)
        return reports
    finally:
        restore()
        producer.close()
        client.close()


def run_nightly(settings: Settings, stop_event: threading.Event | None = None) -> int:
    """Every night at ``backfill.nightly_at`` (Beijing): reconcile T-1, every stream."""
    stop_event = stop_event or threading.Event()
    hour, minute = (int(part) for part in settings.backfill.nightly_at.split(":"))
    trigger = CronTrigger(hour=hour, minute=minute, timezone=BEIJING)
    restore = stop_on_signals(stop_event, None)
    try:
        while not stop_event.is_set():
            fire = trigger.get_next_fire_time(None, datetime.now(BEIJING))
            log.info("next nightly reconciliation at %s", fire)
            write_heartbeat(settings, fire)
            if _wait_until(fire, stop_event):
                break
            try:
                reports = run_reconcile(settings, list(BACKFILL_STREAMS), [Day(yesterday())],
                                        trigger="nightly", stop_event=stop_event)  # fmt: skip
                log.info("nightly reconciliation done:\n%s", format_reports(reports))
            except Exception:  # the next night tries again; the alert sees no report
                log.exception("nightly reconciliation failed")
    finally:
        restore()
    return 0


def heartbeat_file(settings: Settings) -> Path:
    return settings.paths.data_dir / "backfill" / "nightly.json"


def write_heartbeat(settings: Settings, next_run: datetime) -> None:
    """The nightly service's pid and next run, for `erpbi status` and its readiness."""
    path = heartbeat_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    beat = {"pid": os.getpid(), "next_run": next_run.isoformat(timespec="minutes")}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(beat), encoding="utf-8")
    tmp.replace(path)


def _wait_until(fire: datetime, stop_event: threading.Event) -> bool:
    """Wait for ``fire`` on the wall clock (re-read each minute: a suspended machine or a
    clock step does not push the run back); True when stopped first."""
    while (left := (fire - datetime.now(BEIJING)).total_seconds()) > 0:
        if stop_event.wait(min(left, 60.0)):
            return True
    return stop_event.is_set()


REPORT_COLUMNS = [("ERP行数", 7), ("仓库行数", 8), ("缺失", 5), ("过期", 5), ("多余", 5),
                  ("已修复", 7), ("重新关联", 9), ("遗留", 5), ("店铺差异", 9),
                  ("服务层差异", 11), ("调用", 5)]  # fmt: skip
HEADER = f"{'stream':<19} {'day':<10}  " + columns_header(REPORT_COLUMNS)


def format_line(report: DayReport) -> str:
    r = report
    figures = (r.erp_rows, r.warehouse_rows, r.missing, r.stale, r.extra, r.repaired,
               r.rewidened, r.left_over, r.shops_differ, r.serving_shops_differ,
               r.calls)  # fmt: skip
    numbers = " ".join(f"{value:>{width}}" for value, (_, width) in
                       zip(figures, REPORT_COLUMNS, strict=True))  # fmt: skip
    return f"{r.stream:<19} {r.day}  {numbers}"


def format_reports(reports: Sequence[DayReport]) -> str:
    lines = ["对账结果 (ERP 与仓库逐日比对; 缺失/过期已重新落库):", HEADER]
    lines += [format_line(report) for report in reports]
    left = sum(report.left_over for report in reports)
    lines.append(f"修复后仍有 {left} 条差异: 已触发告警" if left else "修复后无差异")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    from common.settings import load_settings

    sys.exit(main(load_settings(), sys.argv[1:]))
