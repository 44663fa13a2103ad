"""The fault drill: faults injected one after another into a running stack under live
traffic, each timed until the data path has recovered, then a per-key audit of the ERP
against the warehouse (``benchmarks/drill.py`` runs the long one, the e2e suite a short).
The ERP's quota-bound API carries a few dozen records a second; the load itself comes from
a feed written straight onto the ODS topics (``testkit/drill_feed.py``), audited per key too.

Recovery of a fault is measured as a user feels it: from the moment it is injected until
the killed service is ready again and a fresh stock change made in the ERP has reached
``dws_inventory``. Malformed records (1 % of the ODS traffic, four kinds) go straight onto
the outbound topic; their dead letters are counted by source position, so a letter the
restarted Flink job wrote twice (its Kafka sink is at-least-once) counts once.

The audit, after the traffic stops and the stack settles, compares every key the ERP has:
- **lost**: in the ERP, not in the warehouse (``FINAL``);
- **duplicated**: in the warehouse but not in the ERP, or a document with more item rows
  than the ERP's items;
- **wrong**: in both, with another ``ts`` or amount (stock: ``qty``);
and the serving layer (the tables the screens read) per shop and day against the DWD, and
the numbers screen 7 shows for today (orders, outbound amount, as its charts compute them
in Superset) against the ERP's documents and the feed's.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from clickhouse_connect.driver.client import Client
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from backfill.dead_letters import read_letters
from backfill.targets import SERVING
from backfill.warehouse_side import serving_shops_differ
from common.settings import Settings
from dashboards.provision import chart_data
from erp_simulator import SimulatorControl
from erpbi import stack
from erpbi.services import by_name
from testkit.drill_feed import ERP_ZONE, FEED_PREFIX, KafkaFeed
from testkit.key_audit import StreamAudit, compare, figure

BAD_PREFIX = "DRILL-BAD-"
REJECTED_PREFIX = "DRILL-REJECTED-"
PROBE_TIMEOUT = 600.0
FOREIGN_PREFIXES = ("DRILL-", "DLQ-", "BROKEN-")  # documents the ERP does not have
# Screen 7's numbers for today, and how each is computed from documents: (orders, amount)
SCREEN_NUMBERS = {"今日订单数": 0, "战报今日出库金额": 1}
WAN = Decimal(10_000)  # the amount tile shows 万元


@dataclass
class FaultResult:
    name: str
    started_s: float  # since the drill began
    recovered_s: float | None  # None: not within PROBE_TIMEOUT


@dataclass
class DrillReport:
    faults: list[FaultResult] = field(default_factory=list)
    audits: list[StreamAudit] = field(default_factory=list)
    serving_differ: list[str] = field(default_factory=list)  # "stream day shop"
    screen_differ: list[str] = field(default_factory=list)  # "chart: shows X, expected Y"
    fed_records: int = 0
    fed_rate: float = 0.0  # records/s the feed achieved
    bad_injected: int = 0
    bad_dead_lettered: int = 0
    rejected_injected: int = 0
    rejected_dead_lettered: int = 0
    settle_seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return (not any(a.lost or a.duplicated or a.wrong for a in self.audits)
                and not self.serving_differ and not self.screen_differ
                and self.bad_injected == self.bad_dead_lettered
                and self.rejected_injected == self.rejected_dead_lettered)  # fmt: skip


class Drill:
    """One drill on a running stack (``settings``), the ERP simulator (``erp``) and the
    warehouse (``warehouse``); faults are methods, run by :meth:`inject`."""

    def __init__(self, settings: Settings, erp: SimulatorControl, warehouse: Client,
                 seed: int = 7) -> None:  # fmt: skip
        self.settings, self.erp, self.warehouse = settings, erp, warehouse
        self.random = random.Random(seed)
        self.began = time.monotonic()
        self.report = DrillReport()
        self.since_ms = int(time.time() * 1000)
        self._producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers,
                                       acks="all", retries=20)  # fmt: skip
        self._stop_bad = threading.Event()
        self._bad_paused = threading.Event()  # set while the broker restarts
        self._bad_thread: threading.Thread | None = None
        self._probe_qty = 700_000
        self.feed: KafkaFeed | None = None

    def live_traffic(self, orders_per_hour: float, base_per_hour: float = 1200) -> None:
        """The simulated business running at ``base_per_hour``, with a promotion on top
        (a promotion adds to the running traffic; it does not start it)."""
        self.erp.start_traffic(orders_per_hour=base_per_hour)
        self.erp.start_promotion(orders_per_hour=orders_per_hour)

    def start_feed(self, records_per_second: float, prefix: str = FEED_PREFIX) -> None:
        """The load: ``records_per_second`` straight onto the ODS topics (see drill_feed);
        a later drill on the same stack gives its feed a ``prefix`` of its own."""
        self.feed = KafkaFeed(self.settings, records_per_second, prefix=prefix)
        self.feed.start()

    # -- faults ---------------------------------------------------------------------------

    def inject(self, name: str, fault: Callable[[], None]) -> FaultResult:
        started = time.monotonic()
        fault()
        recovered = self.probe(started)
        result = FaultResult(name, started - self.began, recovered)
        self.report.faults.append(result)
        return result

    def sigkill(self, service: str, restart: bool = True) -> Callable[[], None]:
        """SIGKILL the service's process group, then start it again (unless ``restart`` is
        off: the data path must then recover without it, see :meth:`started`)."""

        def kill_and_restart() -> None:
            stack.process_for(self.settings, by_name(service)).kill()
            if restart:
                self._start(service)

        return kill_and_restart

    def started(self, service: str) -> Callable[[], None]:
        """Start a service killed earlier (``sigkill(..., restart=False)``)."""
        return lambda: self._start(service)

    def restart_kafka(self) -> None:
        self._bad_paused.set()  # a record sent into the restart may or may not arrive
        if self.feed is not None:
            self.feed.pause()
        try:
            stack.down(self.settings, ["kafka"], report=lambda line: None)
            self._start("kafka")
        finally:
            self._bad_paused.clear()
            if self.feed is not None:
                self.feed.resume()

    def warehouse_down(self, seconds: float) -> Callable[[], None]:
        def down_then_up() -> None:
            stack.down(self.settings, ["clickhouse"], report=lambda line: None)
            time.sleep(seconds)  # the outage itself, not a wait for readiness
            self._start("clickhouse")

        return down_then_up

    def storm(self, seconds: float) -> Callable[[], None]:
        def throttled() -> None:
            self.erp.storm(seconds, http_status=429, retry_after=1.0)
            time.sleep(seconds)  # the storm lasts this long

        return throttled

    def slow_and_repeated_pages(self) -> None:
        self.erp.inject_fault(count=10, delay_seconds=4.0, first_page_only=True)
        for effect in ("duplicate", "shift", "out_of_order"):
            self.erp.inject_fault(count=5, effect=effect, rows=3)

    def rejected_row(self) -> None:
        """A SKU row ClickHouse itself refuses (a date that does not exist)."""
        sku = f"{REJECTED_PREFIX}{time.time_ns()}"
        row = {"sku_id": sku, "name": "拒收", "modified": "2026-02-30 10:00:00", "_ingested_at": 1}
        self._send("sku", {"sku_id": sku}, json.dumps(row).encode())
        self.report.rejected_injected += 1

    def _start(self, service: str) -> None:
        stack.start_service(self.settings, by_name(service), report=lambda line: None)

    # -- malformed records ----------------------------------------------------------------

    def start_malformed(self, share: float = 0.01) -> None:
        """Inject one malformed record of each kind, then ``share`` of the fact topics'
        traffic as malformed records until :meth:`stop_malformed`."""

        for _ in range(4):  # one of each kind at once, however light the traffic
            self._send_bad()

        def run() -> None:
            owed, last = 0.0, self._fact_offsets()
            while not self._stop_bad.wait(1.0):
                if self._bad_paused.is_set():
                    continue
                try:
                    now = self._fact_offsets()
                except Exception:  # the broker unreachable: count on the next second
                    continue
                owed += max(0, now - last) * share
                last = now
                while owed >= 1.0:
                    self._send_bad()
                    owed -= 1.0

        self._bad_thread = threading.Thread(target=run, name="drill-malformed", daemon=True)
        self._bad_thread.start()

    def stop_malformed(self) -> None:
        self._stop_bad.set()
        if self._bad_thread is not None:
            self._bad_thread.join(timeout=30)

    def _send_bad(self) -> None:
        n = self.report.bad_injected
        io_id = f"{BAD_PREFIX}{n}"
        document = {"io_id": io_id, "shop_id": 1, "status": "Confirmed", "ts": 1,
                    "modified": "2026-12-01 10:00:00", "shop_name": "坏记录",
                    "items": [{"ioi_id": f"{io_id}-1", "sku_id": "X", "qty": 1}]}  # fmt: skip
        kind = n % 4
        if kind == 0:
            value = b"\x00not json " + io_id.encode()
        elif kind == 1:
            value = json.dumps(document, ensure_ascii=False).encode("gb18030")
        elif kind == 2:
            document.pop("io_id")
            document["ioId"] = io_id
            value = json.dumps(document).encode()
        else:
            value = json.dumps(document | {"io_date": "2026-02-30 10:00:00"}).encode()
        self._send("outbound", {"io_id": io_id}, value)
        self.report.bad_injected += 1

    def _send(self, stream: str, key: dict[str, Any], value: bytes) -> None:
        topic = self.settings.kafka.topic("ods", stream)
        self._producer.send(topic, key=json.dumps(key).encode(), value=value).get(timeout=120)

    def _fact_offsets(self) -> int:
        consumer = KafkaConsumer(bootstrap_servers=self.settings.kafka.bootstrap_servers,
                                 request_timeout_ms=5000)  # fmt: skip
        try:
            partitions = []
            for stream in ("inventory", "outbound", "refund", "aftersale_received"):
                topic = self.settings.kafka.topic("ods", stream)
                partitions += [TopicPartition(topic, p)
                               for p in consumer.partitions_for_topic(topic) or ()]  # fmt: skip
            return sum(consumer.end_offsets(partitions).values())
        finally:
            consumer.close()

    # -- recovery and audit -----------------------------------------------------------------

    def probe(self, since: float) -> float | None:
        """Seconds from ``since`` until a fresh ERP stock change is in the warehouse."""
        item = self.erp.inventory()[0]
        self._probe_qty += 1
        sku, wms, qty = item["sku_id"], int(item["wms_co_id"]), self._probe_qty
        deadline = time.monotonic() + PROBE_TIMEOUT
        while time.monotonic() < deadline:
            try:
                self.erp.set_inventory(sku, wms, qty=qty)
                break
            except Exception:  # the simulator itself is fine; retry a refused call
                time.sleep(1.0)
        while time.monotonic() < deadline:
            try:
                rows = self.warehouse.query(
                    "SELECT qty FROM dws_inventory FINAL WHERE sku_id = {s:String} "
                    "AND wms_co_id = {w:Int64}",
                    parameters={"s": sku, "w": wms},
                ).result_rows
                if rows and int(rows[0][0]) == qty:
                    return time.monotonic() - since
            except Exception:  # the warehouse just restarted
                pass
            time.sleep(0.5)
        return None

    def settle_and_audit(self, timeout: float, screens: bool = True) -> DrillReport:
        """Stop the traffic, wait until the warehouse agrees with the ERP (or ``timeout``),
        and fill the report's audit (screen 7's numbers too, if ``screens``: Superset runs)."""
        self.stop_malformed()
        self.erp.stop_promotion()
        self.erp.stop_traffic()
        if self.feed is not None:
            self.feed.stop()
            self.report.fed_records, self.report.fed_rate = self.feed.sent, self.feed.achieved_rate
        settle_began = time.monotonic()
        deadline = settle_began + timeout
        while True:
            audits = audit_streams(self.erp, self.warehouse)
            if self.feed is not None:
                audits += self.feed.audit(self.warehouse)
            clean = all(audit.clean for audit in audits)
            if clean or time.monotonic() > deadline:
                break
            time.sleep(5.0)
        self.report.audits = audits
        self.report.settle_seconds = time.monotonic() - settle_began
        self.report.serving_differ = self._serving_differ()
        self.report.screen_differ = self._screen_differ() if screens else []
        self.report.bad_dead_lettered = self._letters("outbound", BAD_PREFIX)
        self.report.rejected_dead_lettered = self._letters("sku", REJECTED_PREFIX)
        self._producer.close()
        return self.report

    def _serving_differ(self) -> list[str]:
        """The serving layer against the DWD, per shop, on every day the ERP changed."""
        days = {date.fromisoformat(str(d)[:10]) for (d,) in self.warehouse.query(
            "SELECT DISTINCT toDate(ifNull(io_date, modified)) FROM dwd_sale_out FINAL "
            "WHERE _loaded_at >= now() - INTERVAL 1 DAY").result_rows}  # fmt: skip
        found = []
        for stream, check in SERVING.items():
            for day in sorted(days):
                deadline = time.monotonic() + 120  # the serving tables refresh every minute
                while (shops := serving_shops_differ(self.warehouse, check, day)) and (
                    time.monotonic() < deadline
                ):
                    time.sleep(5.0)
                found += [f"{stream} {day} shop {shop}" for shop in sorted(shops)]
        return found

    def _screen_differ(self) -> list[str]:
        """Screen 7's numbers for today against the documents: the ERP's, the feed's, and
        those other tests landed that the ERP does not have (read from the DWD)."""
        expected = self._today_orders_and_amount()
        found = []
        for chart, which in SCREEN_NUMBERS.items():
            deadline = time.monotonic() + 120  # serving refresh (1 min) and chart cache (10 s)
            while True:
                shown = _one_value(self.settings, chart)
                agree = (shown == expected[0] if which == 0
                         else abs(Decimal(str(shown)) * WAN - expected[1]) < 1)  # fmt: skip
                if agree or time.monotonic() > deadline:
                    break
                time.sleep(5.0)
            if not agree:
                want = expected[0] if which == 0 else f"{expected[1] / WAN:.2f}"
                found.append(f"{chart}: shows {shown}, expected {want}")
        return found

    def _today_orders_and_amount(self) -> tuple[int, Decimal]:
        today = datetime.now(ERP_ZONE).strftime("%Y-%m-%d")
        orders: set[str] = set()
        amount = Decimal(0)
        for document in self.erp.outbound():
            day = str(document.get("io_date") or document.get("modified") or "")[:10]
            if document.get("status") == "Confirmed" and day == today:
                if document.get("o_id") is not None:
                    orders.add(str(document["o_id"]))
                amount += Decimal(str(document.get("pay_amount") or 0))
        if self.feed is not None:
            fed_orders, fed_amount = self.feed.today_orders(today)
            orders |= fed_orders
            amount += fed_amount
        foreign = " OR ".join(f"startsWith(io_id, '{prefix}')" for prefix in FOREIGN_PREFIXES)
        for o_id, pay in self.warehouse.query(
            "SELECT o_id, toString(pay_amount) FROM dwd_sale_out FINAL "
            "WHERE status = 'Confirmed' AND toDate(ifNull(io_date, modified)) = {d:Date} "
            f"AND ({foreign}) AND NOT startsWith(io_id, {{own:String}})",
            parameters={"d": today, "own": self.feed.prefix if self.feed else "\x00"},
        ).result_rows:  # fmt: skip
            if o_id is not None:
                orders.add(str(o_id))
            amount += Decimal(pay or 0)
        return len(orders), amount

    def _letters(self, stream: str, prefix: str) -> int:
        """Distinct source records among the dead letters naming ``prefix`` since the start."""
        seen = set()
        for letter in read_letters(self.settings, stream, self.since_ms):
            text = letter.payload + (letter.key or b"").decode(errors="replace")
            if prefix in text:
                seen.add(str(letter.source) if letter.source else letter.payload)
        return len(seen)


def audit_streams(erp: SimulatorControl, warehouse: Client) -> list[StreamAudit]:
    return [
        _audit_inventory(erp, warehouse),
        _audit_documents("outbound", erp.outbound(), warehouse, "dwd_sale_out", "io_id",
                         "pay_amount", "dwd_sale_out_item"),
        _audit_documents("refund", erp.refunds(), warehouse, "dwd_refund", "as_id", "refund",
                         "dwd_refund_item"),
        _audit_documents("aftersale_received", erp.received(), warehouse,
                         "dwd_aftersale_received", "io_id", None,
                         "dwd_aftersale_received_item"),
    ]  # fmt: skip


def _audit_inventory(erp: SimulatorControl, warehouse: Client) -> StreamAudit:
    expected = {f"{r['sku_id']}|{r['wms_co_id']}": (int(r["ts"]), int(r["qty"]))
                for r in erp.inventory()}  # fmt: skip
    rows = warehouse.query(
        "SELECT concat(sku_id, '|', toString(wms_co_id)), ts, qty FROM dws_inventory FINAL "
        "WHERE NOT startsWith(sku_id, 'DRILL-')"  # the feed's stock rows: audited apart
    ).result_rows
    actual = {str(key): (int(ts), int(qty)) for key, ts, qty in rows}
    return compare("inventory", expected, actual)


def _audit_documents(stream: str, documents: list[dict[str, Any]], warehouse: Client,
                     table: str, key: str, amount: str | None, item_table: str
                     ) -> StreamAudit:  # fmt: skip
    expected = {str(d[key]): (int(d["ts"]), figure(d.get(amount)) if amount else "",
                              len(d.get("items") or []))
                for d in documents}  # fmt: skip
    amount_sql = f"toString({amount})" if amount else "''"
    rows = warehouse.query(f"SELECT toString({key}), ts, {amount_sql} FROM {table} FINAL "
                           f"WHERE toString({key}) NOT LIKE 'DRILL-%' "
                           f"AND toString({key}) NOT LIKE 'DLQ-%' "
                           f"AND toString({key}) NOT LIKE 'BROKEN-%'").result_rows  # fmt: skip
    items = dict(
        warehouse.query(
            f"SELECT toString({key}), count() FROM {item_table} FINAL GROUP BY {key}"
        ).result_rows
    )
    actual = {str(k): (int(ts), figure(a) if amount else "", int(items.get(str(k), 0)))
              for k, ts, a in rows}  # fmt: skip
    audit = compare(stream, {k: v[:2] for k, v in expected.items()},
                     {k: v[:2] for k, v in actual.items()})  # fmt: skip
    audit.duplicated += [f"{k} ({actual[k][2]} item rows, ERP {v[2]})" for k, v in expected.items()
                         if k in actual and actual[k][2] > v[2]]  # fmt: skip
    return audit


def _one_value(settings: Settings, chart: str) -> Any:
    (row,) = chart_data(settings, chart)
    return next(iter(row.values())) or 0
