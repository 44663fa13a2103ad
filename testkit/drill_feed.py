"""Traffic written straight onto the ODS topics for the fault drill, beside the ERP's.

The ERP's open API is quota-bound (5 calls/s, 100/min): however busy the simulated shop, the
connector carries a few dozen records a second into Kafka. The drill's load, the mission's
peak of 1,333 records/s, therefore comes from this feed: stock rows and outbound documents
(with items) keyed ``DRILL-FEED-*``, half new keys and half newer versions of keys already
sent, each with a ``ts`` above every earlier one. The feed remembers the newest version of
every key, so that the audit can check each against the warehouse: lost, duplicated (more
item rows than sent) or wrong (another ``ts``, quantity or amount).

A send the broker refuses (it is being restarted) is sent again, so that every version the
feed remembers reaches Kafka in the end; :meth:`KafkaFeed.pause` holds the feed while the
broker is down.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client
from kafka import KafkaProducer

from common.settings import Settings
from testkit.key_audit import StreamAudit, compare, figure

FEED_PREFIX = "DRILL-FEED-"
FEED_WAREHOUSE = 9_001  # wms_co_id of the fed stock rows: no ERP warehouse has it
ERP_ZONE = ZoneInfo("Asia/Shanghai")
_STOCK_KEYS = 5_000  # distinct fed SKUs
_RESEND_LIMIT = 10_000  # refused sends held for resending before the feed slows down


@dataclass(frozen=True)
class FedDocument:
    ts: int
    o_id: str
    day: str  # io_date's day, ERP time
    pay_amount: Decimal
    items: int


class KafkaFeed:
    """``rate`` records/s onto the inventory and outbound ODS topics until :meth:`stop`."""

    def __init__(
        self, settings: Settings, rate: float, seed: int = 11, prefix: str = FEED_PREFIX
    ) -> None:
        # a second feed on the same stack takes another prefix (neither a prefix of the
        # other): each audits only its own keys
        self.settings, self.rate, self.prefix = settings, rate, prefix
        self.random = random.Random(seed)
        self.stock: dict[str, tuple[int, int]] = {}  # "sku|wms" -> (ts, qty)
        self.documents: dict[str, FedDocument] = {}
        self.sent = 0  # records handed to Kafka (resends not counted)
        self.resent = 0
        # above any ERP ts, and above the last run's on the same stack (under 100 records/ms)
        self._ts = int(time.time() * 1000) * 100
        self._producer = KafkaProducer(
            bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", linger_ms=20,
            batch_size=256 * 1024, delivery_timeout_ms=60_000, request_timeout_ms=20_000,
        )  # fmt: skip
        self._recent: deque[str] = deque(maxlen=2_000)  # documents a new version may update
        self._refused: deque[tuple[str, bytes, bytes]] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread: threading.Thread | None = None
        self.began = 0.0
        self.active_seconds = 0.0

    # -- running ----------------------------------------------------------------------------

    def start(self) -> None:
        self.began = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="drill-feed", daemon=True)
        self._thread.start()

    def pause(self) -> None:
        """Hold the feed (the broker is about to go down): what was sent is flushed first."""
        self._paused.set()
        self._producer.flush(timeout=120)

    def resume(self) -> None:
        self._paused.clear()

    def stop(self) -> None:
        """Stop sending new records; resend the refused ones until Kafka has them all."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            self._producer.flush(timeout=120)
            with self._lock:
                if not self._refused:
                    break
                again = list(self._refused)
                self._refused.clear()
            for topic, key, value in again:
                self._send(topic, key, value, resend=True)
        self._producer.close(timeout=30)

    @property
    def achieved_rate(self) -> float:
        return self.sent / self.active_seconds if self.active_seconds else 0.0

    def _run(self) -> None:
        sent_here, window_began = 0, time.monotonic()
        while not self._stop.is_set():
            if self._paused.is_set():
                self.active_seconds += time.monotonic() - window_began
                while self._paused.is_set() and not self._stop.is_set():
                    self._stop.wait(0.2)
                sent_here, window_began = 0, time.monotonic()
                continue
            self._resend_refused()
            due = int((time.monotonic() - window_began) * self.rate)
            while sent_here < due and not self._paused.is_set():
                self._send_next()
                sent_here += 1
            self._stop.wait(0.02)  # the pace: the next slice of records is due in 20 ms
        self.active_seconds += time.monotonic() - window_began

    def _resend_refused(self) -> None:
        with self._lock:
            again = list(self._refused)
            self._refused.clear()
        for topic, key, value in again:
            self._send(topic, key, value, resend=True)

    def _send_next(self) -> None:
        self._ts += 1
        if self.sent % 2 == 0:
            self._send_stock()
        else:
            self._send_document()
        self.sent += 1

    def _send_stock(self) -> None:
        sku = f"{self.prefix}SKU-{self.random.randrange(_STOCK_KEYS):05d}"
        qty = self.random.randint(1, 900)
        row = {"sku_id": sku, "wms_co_id": FEED_WAREHOUSE, "qty": qty, "order_lock": 0,
               "ts": self._ts, "modified": _now(), "i_id": f"{self.prefix}I"}  # fmt: skip
        self.stock[f"{sku}|{FEED_WAREHOUSE}"] = (self._ts, qty)
        key = {"sku_id": sku, "wms_co_id": FEED_WAREHOUSE}
        self._send(self.settings.kafka.topic("ods", "inventory"), _json(key), _json(row))

    def _send_document(self) -> None:
        if self.documents and self.random.random() < 0.5:  # a newer version of a document
            io_id = self.random.choice(self._recent)
            n = int(io_id.rsplit("-", 1)[1])
        else:
            n = len(self.documents)
            io_id = f"{self.prefix}IO-{n:08d}"
            self._recent.append(io_id)
        now = _now()
        items = 1 + n % 3  # a document keeps its items through its versions
        price = Decimal(self.random.randint(990, 29_900)) / 100
        lines = [{"ioi_id": f"{io_id}-{k}", "qty": 1 + k,
                  "sku_id": f"{self.prefix}SKU-{(n + k) % _STOCK_KEYS:05d}",
                  "sale_price": str(price), "sale_amount": str(price * (1 + k))}
                 for k in range(items)]  # fmt: skip
        amount = sum((price * (1 + k) for k in range(items)), Decimal(0))
        document = {"io_id": io_id, "o_id": f"{self.prefix}O-{n}", "shop_id": 1 + n % 12,
                    "status": "Confirmed", "created": now, "modified": now, "io_date": now,
                    "pay_amount": str(amount), "wms_co_id": FEED_WAREHOUSE, "ts": self._ts,
                    "items": lines}  # fmt: skip
        self.documents[io_id] = FedDocument(self._ts, f"{self.prefix}O-{n}", now[:10], amount,
                                            items)  # fmt: skip
        self._send(self.settings.kafka.topic("ods", "outbound"), _json({"io_id": io_id}),
                   _json(document))  # fmt: skip

    def _send(self, topic: str, key: bytes, value: bytes, resend: bool = False) -> None:
        def refused(_error: Exception) -> None:
            with self._lock:
                self._refused.append((topic, key, value))

        while len(self._refused) > _RESEND_LIMIT and not self._stop.is_set():
            self._stop.wait(0.5)  # the broker is away: wait for it rather than pile up
        try:
            self._producer.send(topic, key=key, value=value).add_errback(refused)
        except Exception as error:  # the buffer is full or the broker unknown: later
            refused(error)
        self.resent += int(resend)

    # -- audit ------------------------------------------------------------------------------

    def audit(self, warehouse: Client) -> list[StreamAudit]:
        """Every fed key against the warehouse (FINAL), as the ERP audit does."""
        rows = warehouse.query(
            "SELECT concat(sku_id, '|', toString(wms_co_id)), ts, qty FROM dws_inventory FINAL "
            f"WHERE sku_id LIKE '{self.prefix}%'"
        ).result_rows
        stock = compare("fed stock", self.stock, {str(k): (int(ts), int(q)) for k, ts, q in rows})
        rows = warehouse.query(
            "SELECT io_id, ts, toString(pay_amount) FROM dwd_sale_out FINAL "
            f"WHERE io_id LIKE '{self.prefix}%'"
        ).result_rows
        items = dict(warehouse.query(
            "SELECT io_id, count() FROM dwd_sale_out_item FINAL "
            f"WHERE io_id LIKE '{self.prefix}%' GROUP BY io_id").result_rows)  # fmt: skip
        expected = {k: (d.ts, figure(d.pay_amount)) for k, d in self.documents.items()}
        actual = {str(k): (int(ts), figure(a)) for k, ts, a in rows}
        documents = compare("fed outbound", expected, actual)
        documents.duplicated += [
            f"{k} ({items[k]} item rows, sent {d.items})"
            for k, d in self.documents.items() if int(items.get(k, 0)) > d.items
        ]  # fmt: skip
        return [stock, documents]

    def today_orders(self, day: str) -> tuple[set[str], Decimal]:
        """The confirmed orders fed for ``day`` (ERP time) and their amount."""
        fed = [d for d in self.documents.values() if d.day == day]
        return {d.o_id for d in fed}, sum((d.pay_amount for d in fed), Decimal(0))


def _now() -> str:
    return datetime.now(ERP_ZONE).strftime("%Y-%m-%d %H:%M:%S")


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()
