"""Reading the ERP for the backfill and the reconciliation: a day's pages, or chosen ids.

Both go through the stream's connector source (the shared quota budget, retries, the
token) at the urgency of document backlogs, below the live streams' fresh polls.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from backfill.days import Day
from connectors.base import PageQuery, Partition, SourcePage
from connectors.tscursor import TsCursorConnector
from connectors.urgency import Urgency, planned_calls


def day_page(
    connector: TsCursorConnector, partition: Partition, day: Day, page_index: int
) -> SourcePage:
    """One page of the rows whose ``modified`` falls on ``day``, with ``data_count``."""
    query = PageQuery(
        page_size=connector.page_size,
        page_index=page_index,
        modified_begin=day.begin,
        modified_end=day.end,
        filters=partition.filters,
        with_total=True,
    )
    with planned_calls(Urgency.DOCUMENTS, caught_up=False):
        return connector.source.query(connector.stream, query)


@dataclass
class Listing:
    rows: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    rereads: int = 0


def list_day(
    connector: TsCursorConnector,
    partition: Partition,
    day: Day,
    *,
    max_rereads: int = 3,
    stop_event: threading.Event | None = None,
) -> Listing:
    """Every row of ``day``, page by page; read again from page 1 when ``data_count``
    moved meanwhile (a row modified again leaves the day and shifts the pages)."""
    listing = Listing()
    page_index, expected = 1, None
    while stop_event is None or not stop_event.is_set():
        page = day_page(connector, partition, day, page_index)
        listing.calls += 1
        if page_index > 1 and page.data_count not in (None, expected):
            if listing.rereads < max_rereads:
                listing.rereads += 1
                listing.rows, page_index, expected = [], 1, page.data_count
                continue
        if expected is None:
            expected = page.data_count
        listing.rows.extend(page.rows)
        if not page.has_next or not page.rows:
            break
        page_index += 1
    return listing


def rows_by_id(
    connector: TsCursorConnector,
    partition: Partition,
    id_filter: tuple[str, int],
    ids: Sequence[str],
) -> Listing:
    """The current rows of ``ids`` (the API's id filter, at most ``limit`` ids a call)."""
    name, limit = id_filter
    listing = Listing()
    for start in range(0, len(ids), limit):
        chunk = list(ids[start : start + limit])
        filters = {**partition.filters, name: chunk}
        page_index = 1
        while True:
            query = PageQuery(page_size=connector.page_size, page_index=page_index,
                              filters=filters)  # fmt: skip
            with planned_calls(Urgency.DOCUMENTS, caught_up=False):
                page = connector.source.query(connector.stream, query)
            listing.calls += 1
            listing.rows.extend(page.rows)
            if not page.has_next or not page.rows:
                break
            page_index += 1
    return listing
