"""A scripted in-memory Source for unit tests of the connector loops (no HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from connectors.base import PageQuery, SourcePage
from connectors.models import BEIJING, format_erp_time


class FakeDocumentErp:
    """One ts-cursor document stream: ``ts > start_ts`` in ts order, ``page_size`` rows.

    ``failures`` are raised by the next queries, in order; ``before_query`` runs before
    each answer (to modify documents while the connector pages); ``inclusive`` makes the
    filter ``ts >= start_ts`` (boundary duplicates); ``calls`` records every query.
    """

    name = "fake"

    def __init__(self, key: str = "io_id", *, inclusive: bool = False, max_page: int = 50):
        self.key = key
        self.inclusive = inclusive
        self.max_page = max_page
        self.rows: dict[Any, dict[str, Any]] = {}
        self.next_ts = 1000
        self.failures: list[Exception] = []
        self.calls: list[tuple[str, PageQuery]] = []
        self.before_query: Callable[[int], None] | None = None
        self.extra_rows: list[Any] = []  # served once on the next page (invalid rows...)

    def put(self, key: Any, **fields: Any) -> dict[str, Any]:
        self.next_ts += 3
        row = dict(self.rows.get(key, {}))
        row.update(
            {
                self.key: key,
                "ts": self.next_ts,
                "modified": format_erp_time(datetime.now(BEIJING)),
                "status": "WaitConfirm",
                "items": [{"sku_id": f"SKU-{key}", "qty": 1, "sale_price": 9.9}],
            }
        )
        row.update(fields)
        self.rows[key] = row
        return row

    def supports(self, stream: str) -> bool:
        return True

    def max_page_size(self, stream: str) -> int:
        return self.max_page

    def query(self, stream: str, query: PageQuery) -> SourcePage:
        self.calls.append((stream, query))
        if self.before_query is not None:
            self.before_query(len(self.calls))
        if self.failures:
            raise self.failures.pop(0)
        start = query.start_ts or 0
        matching = sorted(
            (row for row in self.rows.values()
             if row["ts"] > start or (self.inclusive and row["ts"] == start)),
            key=lambda row: row["ts"],
        )  # fmt: skip
        page = [dict(row) for row in matching[: query.page_size]]
        extra, self.extra_rows = self.extra_rows, []
        return SourcePage(rows=extra + page, has_next=len(matching) > query.page_size)


def backfill_orders(store: Any, hours: float, orders_per_hour: float, seed: int = 7) -> Any:
    """Play ``hours`` of order traffic into a simulator store; returns the engine."""
    from erp_simulator.engine import ErpEngine, TrafficSettings
    from erp_simulator.store import beijing_now

    engine = ErpEngine(store, TrafficSettings(orders_per_hour=orders_per_hour), seed, beijing_now())
    engine.backfill(hours / 24.0, beijing_now())
    return engine


def latest_by_key(records: list[Any], key_fields: tuple[str, ...]) -> dict[tuple[Any, ...], Any]:
    """Highest-ts value per business key (key = the record's Kafka key fields)."""
    best: dict[tuple[Any, ...], Any] = {}
    for record in records:
        key = tuple(record.key_json()[name] for name in key_fields)
        value = record.value_json()
        if key not in best or int(value.get("ts", 0)) >= int(best[key].get("ts", 0)):
            best[key] = value
    return best


def no_wait_budget() -> Any:
    """A budget that never blocks and ignores server hints (retries run instantly)."""
    from connectors.jushuitan.quota import QuotaBudget

    class NoWaitBudget(QuotaBudget):
        def note_throttled(self, retry_after_seconds: float) -> None:
            self.throttled_count += 1

    return NoWaitBudget(0.0, 0, 0, safety_margin_seconds=0.0)
