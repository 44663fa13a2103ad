"""The merchant's business as a discrete-event simulation: orders and what follows them.

An order arrives (outbound document WaitConfirm, stock order-locked); later it ships
(Confirmed, stock leaves, maybe OuterConfirming first) or is cancelled/voided; a share
of shipped orders comes back as an after-sale, which is confirmed or cancelled, and
returned goods are received into the sales-return or defective warehouse. Low stock
triggers a purchase that arrives hours later (or never: some SKUs stay out of stock).

Events run strictly in time order and every write takes the next ``ts``, so ``ts``
follows ``modified`` across history (backfill) and live traffic alike. The same seed,
catalog and start time give the same history.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

from connectors.models import format_erp_time
from erp_simulator.documents import (
    AFTERSALE_TYPE_SHARE,
    PLATFORM_SHARE,
    PROBLEM_REASON_SHARE,
    REASON_SHARE,
    RETURNS_GOODS,
    IdSequences,
    build_outbound,
    build_received,
    build_refund,
    tracking_number,
    weighted,
)
from erp_simulator.shape import DemandCurve, Promotion, next_arrival
from erp_simulator.store import ErpStore


@dataclass
class TrafficSettings:
    """Knobs of the generated business; defaults give a small but lively merchant."""

    orders_per_hour: float = 120.0  # the year's average; shaped by season and hour
    follow_curve: bool = True
    backfill_days: float = 2.0
    speed: float = 1.0  # >1: orders arrive faster and their lifecycles run faster
    aftersale_share: float = 0.035  # after-sale probability of a shipped order
    problem_sku_share: float = 0.01  # SKUs whose after-sale rate is high
    problem_aftersale_share: float = 0.22
    cancel_share: float = 0.04
    restock_share: float = 0.7  # low stock gets a purchase; the rest stays out of stock


def _hours(rng: random.Random, low: float, mean: float, high: float) -> timedelta:
    return timedelta(hours=min(high, low + rng.expovariate(1.0 / mean)))


class ErpEngine:
    """Writes orders and their lifecycle into an :class:`ErpStore` (not thread-safe alone:
    every public method takes the store's lock)."""

    def __init__(self, store: ErpStore, settings: TrafficSettings, seed: int, start: datetime):
        self.store = store
        self.settings = settings
        self.rng = random.Random(seed + 2)
        self.ids = IdSequences()
        self.curve = DemandCurve(settings.orders_per_hour, settings.follow_curve)
        self.promotions: list[Promotion] = []
        self.events: list[tuple[datetime, int, str, Any]] = []
        self.sequence = 0
        self.now = start  # simulated time reached
        self.floor = start  # no write is stamped earlier (a paused backlog lands "now")
        self.arrivals_on = True
        self.next_order: datetime | None = None
        self.searched_to = start
        self.pending_restock: set[tuple[int, str]] = set()
        self.counts: dict[str, int] = {}
        self._prepare_mixes()

    def _prepare_mixes(self) -> None:
        skus = sorted(sku_id for sku_id, row in self.store.skus.items() if row.get("enabled") != -1)
        self.rng.shuffle(skus)  # popularity rank: a long tail, a few best sellers
        self.sku_ids = skus
        self.sku_cumulative = list(accumulate(1.0 / (rank + 1) ** 0.9 for rank in range(len(skus))))
        top = skus[: max(10, len(skus) // 20)]
        count = max(3, int(len(skus) * self.settings.problem_sku_share))
        self.problem_skus = set(self.rng.sample(top, min(count, len(top))))
        shops = self.store.shops
        self.shop_weights = [PLATFORM_SHARE.get(str(shop["shop_site"]), 0.05) for shop in shops]
        ids = self.store.warehouse_ids
        self.warehouse_weights = [3.0 if n == 0 else 1.0 for n in range(len(ids))]

    # -- time -------------------------------------------------------------------------------

    def rate(self, moment: datetime) -> float:
        return self.curve.rate(moment, self.promotions) * self.settings.speed

    def set_rate(self, orders_per_hour: float | None = None, speed: float | None = None) -> None:
        with self.store.lock:
            if orders_per_hour is not None:
                self.settings.orders_per_hour = orders_per_hour
                self.curve.base_orders_per_hour = orders_per_hour
            if speed is not None:
                self.settings.speed = speed
            self._rate_changed()

    def start_promotion(
        self, orders_per_hour: float, at: datetime, duration: timedelta | None = None
    ) -> None:
        with self.store.lock:
            self.promotions.append(
                Promotion(orders_per_hour, at, at + duration if duration else None)
            )
            self._rate_changed(at)

    def stop_promotions(self, at: datetime) -> None:
        with self.store.lock:
            for promotion in self.promotions:
                if promotion.end is None or promotion.end > at:
                    promotion.end = at
            self._rate_changed(at)

    def _rate_changed(self, at: datetime | None = None) -> None:
        self.next_order = None  # memoryless: redrawing from the change is exact
        self.searched_to = max(self.now, at or self.now)

    def resume(self, at: datetime) -> None:
        """Continue after a pause: nothing from the paused stretch is invented."""
        with self.store.lock:
            self.now = max(self.now, at)
            self.floor = self.now
            self._rate_changed()

    def _schedule(self, due: datetime, kind: str, payload: Any) -> None:
        self.sequence += 1
        heapq.heappush(self.events, (due, self.sequence, kind, payload))

    def _delay(self, span: timedelta) -> timedelta:
        return span / max(self.settings.speed, 1e-6)

    def _upcoming_order(self, until: datetime) -> datetime | None:
        if not self.arrivals_on:
            return None
        if self.next_order is None and self.searched_to < until:
            self.next_order = next_arrival(self.rng, self.searched_to, self.rate, until)
            self.searched_to = self.next_order or until
        return self.next_order if self.next_order is not None and self.next_order <= until else None

    def run_until(self, until: datetime) -> int:
        """Play every arrival and due event up to ``until``; returns the writes' count."""
        done = 0
        with self.store.lock:
            while True:
                order_at = self._upcoming_order(until)
                event_at = self.events[0][0] if self.events and self.events[0][0] <= until else None
                if order_at is None and event_at is None:
                    break
                if event_at is not None and (order_at is None or event_at <= order_at):
                    due, _, kind, payload = heapq.heappop(self.events)
                    self._apply(kind, payload, max(due, self.floor))
                else:
                    assert order_at is not None
                    self.next_order = None
                    self.place_order(max(order_at, self.floor))
                done += 1
            self.now = max(self.now, until)
        return done

    def backfill(self, days: float, end: datetime) -> int:
        """History: the ``days`` before ``end`` played at the curve's rate."""
        self.now = self.floor = self.searched_to = end - timedelta(days=days)
        return self.run_until(end)

    def advance(self, seconds: float, at: datetime) -> int:
        """Run lifecycle events due within ``seconds`` right now (no new arrivals)."""
        with self.store.lock:
            arrivals, self.arrivals_on = self.arrivals_on, False
            self.floor = max(self.floor, at)
            try:
                return self.run_until(max(self.now, at) + timedelta(seconds=seconds))
            finally:
                self.arrivals_on = arrivals
                self._rate_changed()

    # -- the business -----------------------------------------------------------------------

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def _promotion_active(self, at: datetime) -> bool:
        return self.curve.in_promotion(at) or any(p.active(at) for p in self.promotions)

    def place_order(self, at: datetime) -> dict[str, Any]:
        rng, store = self.rng, self.store
        with store.lock:
            shop = rng.choices(store.shops, weights=self.shop_weights)[0]
            line_count = rng.choices([1, 2, 3, 4], weights=[62, 23, 10, 5])[0]
            chosen = rng.choices(self.sku_ids, cum_weights=self.sku_cumulative, k=line_count)
            lines = [
                (store.skus[sku_id], rng.choices([1, 2, 3], weights=[80, 15, 5])[0])
                for sku_id in dict.fromkeys(chosen)
            ]
            wms_co_id = self._pick_warehouse(lines)
            promotion = self._promotion_active(at)
            row = build_outbound(
                rng,
                self.ids,
                shop=shop,
                wms_co_id=wms_co_id,
                lines=lines,
                at=at,
                promotion=promotion,
            )
            store.put_document("outbound", row, at)
            for item in row["items"]:
                store.adjust_inventory(item["sku_id"], wms_co_id, at, order_lock=item["qty"])
            self._count("orders")
            if rng.random() < self.settings.cancel_share:
                self._schedule(at + self._delay(_hours(rng, 0.02, 1.0, 12)), "cancel", row["io_id"])
            else:
                wait = _hours(rng, 0.2, 10.0 if promotion else 5.0, 48)
                self._schedule(at + self._delay(wait), "ship", row["io_id"])
            return row

    def _pick_warehouse(self, lines: list[tuple[dict[str, Any], int]]) -> int:
        """The first warehouse (weighted order) holding every line; else oversell the first."""
        ids = self.store.warehouse_ids
        order = self.rng.choices(ids, weights=self.warehouse_weights, k=len(ids))
        for wms_co_id in dict.fromkeys(order + ids):
            if all(self._available(wms_co_id, sku["sku_id"]) >= qty for sku, qty in lines):
                return wms_co_id
        return order[0]

    def _available(self, wms_co_id: int, sku_id: str) -> int:
        row = self.store.inventory.get((wms_co_id, sku_id))
        if row is None:
            return 0
        return int(row["qty"]) + int(row.get("virtual_qty") or 0) - int(row.get("order_lock") or 0)

    def _apply(self, kind: str, payload: Any, at: datetime) -> None:
        getattr(self, f"_on_{kind}")(payload, at)
        self._count(kind)

    def _on_cancel(self, io_id: int, at: datetime) -> None:
        row = self.store.outbound.rows[io_id]
        if row["status"] != "WaitConfirm":
            return
        row["status"] = "Delete" if self.rng.random() < 0.25 else "Cancelled"
        self.store.put_document("outbound", row, at)
        for item in row["items"]:
            self.store.adjust_inventory(
                item["sku_id"], row["wms_co_id"], at, order_lock=-item["qty"]
            )

    def _on_ship(self, io_id: int, at: datetime) -> None:
        rng, store = self.rng, self.store
        row = store.outbound.rows[io_id]
        if row["status"] == "WaitConfirm" and rng.random() < 0.03:
            row["status"] = "OuterConfirming"  # a third-party warehouse ships it
            store.put_document("outbound", row, at)
            self._schedule(at + self._delay(_hours(rng, 0.1, 2.0, 12)), "ship", io_id)
            return
        if row["status"] not in ("WaitConfirm", "OuterConfirming"):
            return
        row.update(status="Confirmed", l_id=tracking_number(rng, row["lc_id"]))
        row["io_date"] = format_erp_time(at)
        store.put_document("outbound", row, at)
        for item in row["items"]:
            stock = store.adjust_inventory(
                item["sku_id"], row["wms_co_id"], at, qty=-item["qty"], order_lock=-item["qty"]
            )
            self._maybe_restock(row["wms_co_id"], item["sku_id"], stock, at)
        problem = any(item["sku_id"] in self.problem_skus for item in row["items"])
        share = self.settings.problem_aftersale_share if problem else self.settings.aftersale_share
        if rng.random() < share:
            self._schedule(at + self._delay(_hours(rng, 1.0, 30.0, 240)), "aftersale", io_id)

    def _maybe_restock(
        self, wms_co_id: int, sku_id: str, stock: dict[str, Any], at: datetime
    ) -> None:
        key = (wms_co_id, sku_id)
        if key in self.pending_restock or int(stock["qty"]) >= int(stock.get("min_qty") or 0):
            return
        self.pending_restock.add(key)
        if self.rng.random() >= self.settings.restock_share:
            return  # nobody reorders: this one stays out of stock
        amount = max(20, int(stock.get("max_qty") or 200) - int(stock["qty"]))
        self.store.adjust_inventory(sku_id, wms_co_id, at, purchase_qty=amount)
        self._schedule(at + self._delay(_hours(self.rng, 4.0, 20.0, 96)), "restock", (key, amount))

    def _on_restock(self, payload: tuple[tuple[int, str], int], at: datetime) -> None:
        (wms_co_id, sku_id), amount = payload
        self.store.adjust_inventory(sku_id, wms_co_id, at, qty=amount, purchase_qty=-amount)
        self.pending_restock.discard((wms_co_id, sku_id))

    def _on_aftersale(self, io_id: int, at: datetime) -> None:
        rng = self.rng
        outbound = self.store.outbound.rows[io_id]
        lines = [item for item in outbound["items"] if not item["is_gift"]]
        problem = [item for item in lines if item["sku_id"] in self.problem_skus]
        if problem:
            lines, reasons = problem, PROBLEM_REASON_SHARE
        else:
            lines, reasons = rng.sample(lines, rng.randint(1, len(lines))), REASON_SHARE
        warehouse = next(
            w for w in self.store.warehouses if w["wms_co_id"] == outbound["wms_co_id"]
        )
        refund = build_refund(
            rng,
            self.ids,
            outbound=outbound,
            lines=lines,
            aftersale_type=weighted(rng, AFTERSALE_TYPE_SHARE),
            reason=weighted(rng, reasons),
            warehouse_name=str(warehouse["name"]),
            at=at,
        )
        self.store.put_document("refund", refund, at)
        self._schedule(at + self._delay(_hours(rng, 0.1, 8.0, 72)), "decide", refund["as_id"])

    def _on_decide(self, as_id: int, at: datetime) -> None:
        refund = self.store.refunds.rows[as_id]
        roll = self.rng.random()
        status = "Confirmed" if roll < 0.87 else "Cancelled" if roll < 0.98 else "Merged"
        refund.update(status=status, confirm_date=format_erp_time(at))
        refund["shop_status"] = "SUCCESS" if status == "Confirmed" else "CLOSED"
        if status == "Confirmed" and refund["type"] in RETURNS_GOODS:
            refund["l_id"] = tracking_number(self.rng, "SF")
            self._schedule(at + self._delay(_hours(self.rng, 6.0, 40.0, 168)), "receive", as_id)
        self.store.put_document("refund", refund, at)

    def _on_receive(self, as_id: int, at: datetime) -> None:
        store = self.store
        refund = store.refunds.rows[as_id]
        defective = int(refund["wh_id"]) == 4
        when = format_erp_time(at)
        refund["good_status"] = "SELLER_RECEIVED"
        for item in refund["items"]:
            item.update(r_qty=item["qty"], receive_date=when)
            item["defective_qty"] = item["qty"] if defective else 0
        store.put_document("refund", refund, at)
        warehouse = next(w for w in store.warehouses if w["wms_co_id"] == refund["wms_co_id"])
        received = build_received(
            self.ids, refund=refund, warehouse_name=str(warehouse["name"]), at=at
        )
        store.put_document("aftersale_received", received, at)
        field = "defective_qty" if defective else "return_qty"
        for item in refund["items"]:
            store.adjust_inventory(item["sku_id"], refund["wms_co_id"], at, **{field: item["qty"]})

    def state(self, at: datetime | None = None) -> dict[str, Any]:
        with self.store.lock:
            moment = max(self.now, at) if at is not None else self.now
            return {
                "orders_per_hour": self.settings.orders_per_hour,
                "current_rate": round(self.rate(moment), 2),
                "speed": self.settings.speed,
                "simulated_until": format_erp_time(self.now),
                "pending_events": len(self.events),
                "promotions": [
                    {
                        "orders_per_hour": p.orders_per_hour,
                        "start": format_erp_time(p.start),
                        "end": format_erp_time(p.end) if p.end else None,
                    }
                    for p in self.promotions
                ],  # fmt: skip
                "counts": dict(self.counts),
                "problem_skus": sorted(self.problem_skus),
            }
