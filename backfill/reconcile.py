"""Reconcile ERP days against the warehouse, repair what differs, and report it.

Per stream and day: list the day from the ERP (its pages: the only calls a day costs),
read the warehouse's newest version of the same keys (DWD FINAL), and sort the keys
into missing (the warehouse lacks them), stale (it holds an older ``ts``) and extra (the
warehouse has them on that day, the ERP on another or not at all). Only missing and
stale rows are re-landed, through the stream's connector (same key, same version: as
the live sync would have produced them), and counted again once they landed. Facts of
the last ``backfill.rewiden_days`` whose dimension arrived after Flink's join state let
them go are re-pulled by id and widened again by the pipeline. One report row per
stream and day goes to ``ops_reconciliation``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client

from backfill.days import Day
from backfill.erp_listing import list_day, rows_by_id
from backfill.targets import TARGETS, ServingCheck, WarehouseTarget
from backfill.warehouse_side import (
    Held,
    held_keys,
    held_on_day,
    serving_shops_differ,
    still_gapped,
    widening_gaps,
)
from connectors.base import Partition
from connectors.models import BEIJING
from connectors.tscursor import TsCursorConnector

log = logging.getLogger(__name__)
SAMPLE_KEYS = 20
LANDING_CHECK_SECONDS = 1.0


@dataclass
class DayReport:
    stream: str
    day: Day
    erp_rows: int = 0
    warehouse_rows: int = 0
    missing: int = 0
    stale: int = 0
    extra: int = 0
    repaired: int = 0
    rewidened: int = 0
    left_over: int = 0
    erp_amount: Decimal = Decimal(0)
    warehouse_amount: Decimal = Decimal(0)
    shops_differ: int = 0
    serving_shops_differ: int = 0
    calls: int = 0
    seconds: float = 0.0
    sample_keys: list[str] = field(default_factory=list)

    @property
    def differed(self) -> int:
        return self.missing + self.stale


@dataclass
class _ErpRow:
    partition: Partition
    row: dict[str, Any]

    @property
    def ts(self) -> int:
        return int(self.row.get("ts") or 0)


class Reconciler:
    """Reconciles days of streams through their connectors; the warehouse via ``client``."""

    def __init__(
        self,
        connectors: Sequence[TsCursorConnector],
        client: Client,
        *,
        repair_wait_seconds: float = 300.0,
        rewiden_days: int = 30,
        max_rereads: int = 3,
        stop_event: threading.Event | None = None,
        on_day: Callable[[DayReport], None] | None = None,
    ):
        self.connectors = {connector.stream: connector for connector in connectors}
        self.client = client
        self.repair_wait_seconds = repair_wait_seconds
        self.rewiden_days = rewiden_days
        self.max_rereads = max_rereads
        self.stop_event = stop_event or threading.Event()
        self.on_day = on_day

    def run(self, days: Sequence[Day]) -> list[DayReport]:
        reports: list[DayReport] = []
        for stream, connector in self.connectors.items():
            target = TARGETS[stream]
            for day in days:
                if self.stop_event.is_set():
                    return reports
                report = self.reconcile_day(connector, target, day)
                reports.append(report)
                if day == days[-1]:
                    widened, left, calls = self.rewiden(connector, target, days)
                    report.rewidened, report.calls = widened, report.calls + calls
                    report.left_over += left
                if self.on_day is not None:
                    self.on_day(report)
        return reports

    # -- one day ----------------------------------------------------------------------------

    def reconcile_day(
        self, connector: TsCursorConnector, target: WarehouseTarget, day: Day
    ) -> DayReport:
        started = time.monotonic()
        report = DayReport(target.stream, day)
        erp: dict[str, _ErpRow] = {}
        held: dict[str, Held] = {}
        for partition in connector.partitions():
            listing = list_day(connector, partition, day, max_rereads=self.max_rereads,
                               stop_event=self.stop_event)  # fmt: skip
            report.calls += listing.calls
            filters = dict(partition.filters)
            for row in listing.rows:
                key = target.erp_key(row, filters)
                if key not in erp or _ErpRow(partition, row).ts > erp[key].ts:
                    erp[key] = _ErpRow(partition, row)
            held.update(held_on_day(self.client, target, day.begin, day.end, filters))
        outside = [key for key in erp if key not in held]
        everywhere = {**held, **held_keys(self.client, target, outside)} if outside else held
        missing = [key for key in erp if key not in everywhere]
        stale = [key for key in erp if key in everywhere and everywhere[key].version < erp[key].ts]
        report.erp_rows, report.warehouse_rows = len(erp), len(held)
        report.missing, report.stale = len(missing), len(stale)
        report.extra = sum(1 for key in held if key not in erp)
        report.sample_keys = (missing + stale)[:SAMPLE_KEYS]
        if missing or stale:
            log.info("%s %s: %d missing, %d stale of %d: re-landing them", target.stream, day,
                     len(missing), len(stale), len(erp))  # fmt: skip
            self._produce(connector, [erp[key] for key in missing + stale])
            landed = self._wait_landed(target, {key: erp[key].ts for key in missing + stale})
            report.repaired = len(landed)
        report.left_over = report.differed - report.repaired
        self._compare_amounts(report, target, erp, day)
        if target.serving is not None:
            report.serving_shops_differ = len(self._serving_differ(target.serving, day))
        report.seconds = time.monotonic() - started
        return report

    def _produce(self, connector: TsCursorConnector, rows: Sequence[_ErpRow]) -> None:
        by_partition: dict[str, list[_ErpRow]] = defaultdict(list)
        for item in rows:
            by_partition[item.partition.name].append(item)
        for items in by_partition.values():
            partition = items[0].partition
            valid, dead = connector.validate([item.row for item in items], partition)
            connector.produce_and_flush(connector.to_messages(valid, partition), dead)

    def _wait_landed(self, target: WarehouseTarget, wanted: dict[str, int]) -> set[str]:
        """Keys found at (or past) the ERP version before ``repair_wait_seconds``."""
        deadline = time.monotonic() + self.repair_wait_seconds
        landed: set[str] = set()
        while True:
            waiting = [key for key in wanted if key not in landed]
            found = held_keys(self.client, target, waiting)
            landed |= {key for key, held in found.items() if held.version >= wanted[key]}
            if len(landed) == len(wanted) or time.monotonic() >= deadline:
                return landed
            if self.stop_event.wait(LANDING_CHECK_SECONDS):
                return landed

    def _serving_differ(self, check: ServingCheck, day: Day) -> set[str]:
        """Shops whose serving figures of the day differ from the DWD's, once the serving
        layer has refreshed (every 30 s): asked again until they agree or time is up."""
        deadline = time.monotonic() + self.repair_wait_seconds
        while True:
            differ = serving_shops_differ(self.client, check, day.day)
            if not differ or time.monotonic() >= deadline:
                return differ
            if self.stop_event.wait(LANDING_CHECK_SECONDS * 5):
                return differ

    def _compare_amounts(
        self, report: DayReport, target: WarehouseTarget, erp: dict[str, _ErpRow], day: Day
    ) -> None:
        """Per shop: the ERP's count and amount of the day against the warehouse's rows of
        the same keys, after the repair."""
        held = held_keys(self.client, target, list(erp))
        erp_shops: dict[str, tuple[int, Decimal]] = defaultdict(lambda: (0, Decimal(0)))
        held_shops: dict[str, tuple[int, Decimal]] = defaultdict(lambda: (0, Decimal(0)))
        for key, item in erp.items():
            shop = str(item.row.get(target.shop, "")) if target.shop else ""
            amount = Decimal(str(item.row.get(target.amount) or 0)) if target.amount else Decimal(0)
            count, total = erp_shops[shop]
            erp_shops[shop] = (count + 1, total + amount)
            if key in held:
                count, total = held_shops[held[key].shop]
                held_shops[held[key].shop] = (count + 1, total + held[key].amount)
        report.erp_amount = sum((total for _, total in erp_shops.values()), Decimal(0))
        report.warehouse_amount = sum((total for _, total in held_shops.values()), Decimal(0))
        report.shops_differ = sum(
            1 for shop in set(erp_shops) | set(held_shops) if erp_shops[shop] != held_shops[shop]
        )

    # -- late dimensions --------------------------------------------------------------------

    def rewiden(
        self, connector: TsCursorConnector, target: WarehouseTarget, days: Sequence[Day]
    ) -> tuple[int, int, int]:
        """Re-pull by id the facts of ``rewiden_days`` up to the last day whose dimension
        the warehouse now has; returns (facts widened again, facts still not, calls)."""
        until = days[-1].end
        since = days[0].begin - timedelta(days=self.rewiden_days)
        documents: dict[tuple[str, int], None] = {}
        for gap in target.gaps:
            documents.update(dict.fromkeys(widening_gaps(self.client, gap, since, until)))
        if not documents:
            return 0, 0, 0
        calls = 0
        partitions = connector.partitions()
        for partition in partitions:
            wms = partition.filters.get("wms_co_id")
            ids = sorted({doc for doc, w in documents if wms is None or int(wms) == w})
            if not ids:
                continue
            listing = rows_by_id(connector, partition, target.id_filter, ids)
            calls += listing.calls
            self._produce(connector, [_ErpRow(partition, row) for row in listing.rows])
        names = sorted({doc for doc, _ in documents})
        log.info("%s: re-widening %d facts whose dimension arrived late", target.stream, len(names))
        deadline = time.monotonic() + self.repair_wait_seconds
        left = set(names)
        while left and time.monotonic() < deadline and not self.stop_event.is_set():
            left = set().union(
                *(still_gapped(self.client, gap, sorted(left)) for gap in target.gaps)
            )
            if left:
                self.stop_event.wait(LANDING_CHECK_SECONDS)
        return len(names) - len(left), len(left), calls


# -- the report ------------------------------------------------------------------------------

REPORT_COLUMNS = [
    "run_id", "run_at", "trigger", "stream", "day", "erp_rows", "warehouse_rows", "missing",
    "stale", "extra", "repaired", "rewidened", "left_over", "erp_amount", "warehouse_amount",
    "shops_differ", "serving_shops_differ", "calls", "seconds", "sample_keys",
]  # fmt: skip


def new_run_id() -> str:
    return f"{datetime.now(BEIJING):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def save_reports(client: Client, reports: Sequence[DayReport], run_id: str, trigger: str) -> None:
    now = datetime.now(BEIJING).replace(tzinfo=None, microsecond=0)
    rows = [
        [run_id, now, trigger, r.stream, r.day.day, r.erp_rows, r.warehouse_rows, r.missing,
         r.stale, r.extra, r.repaired, r.rewidened, r.left_over, r.erp_amount,
         r.warehouse_amount, r.shops_differ, r.serving_shops_differ, r.calls, r.seconds,
         r.sample_keys]
        for r in reports
    ]  # fmt: skip
    if rows:
        client.insert("ops_reconciliation", rows, column_names=REPORT_COLUMNS)
