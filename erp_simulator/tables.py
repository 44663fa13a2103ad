"""Document streams (sales outbound, after-sale refund, after-sale received) and their API.

One :class:`StreamSpec` per API holds what jushuitan-api.md says about it (key, list
key, page-size maximum, id-list filters and their limits, enumerated filters,
``date_type`` choices); :class:`DocumentTable` answers it from the latest version of
every document, walking a :class:`TsIndex` so the ``start_ts`` cursor never scans.
Fields whose name starts with ``_`` are internal (order date, creation time) and are
never sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from erp_simulator.index import TsIndex
from erp_simulator.params import (
    ParameterError,
    choice_list,
    collect_page,
    cursor_param,
    id_list,
    in_window,
    int_param,
    page_data,
    truthy,
    window,
)

OUTBOUND_STATUSES = ("WaitConfirm", "Confirmed", "Delete", "Cancelled", "OuterConfirming")
REFUND_STATUSES = ("WaitConfirm", "Confirmed", "Cancelled", "Merged")
GOOD_STATUSES = ("BUYER_NOT_RECEIVED", "BUYER_RECEIVED", "BUYER_RETURNED_GOODS", "SELLER_RECEIVED")
AFTERSALE_TYPES = ("普通退货", "其它", "拒收退货", "仅退款", "投诉", "补发", "换货", "维修")


@dataclass(frozen=True)
class StreamSpec:
    name: str
    path: str
    key: str
    id_filters: dict[str, tuple[str, int]]  # parameter -> (row field, most ids)
    choice_filters: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    date_types: dict[int, str] = field(default_factory=lambda: {0: "modified"})
    list_key: str = "datas"
    max_page_size: int = 50
    default_page_size: int = 30
    cursor_param: str = "start_ts"


OUTBOUND = StreamSpec(
    "outbound",
    "/open/orders/out/simple/query",
    "io_id",
    {"o_ids": ("o_id", 50), "io_ids": ("io_id", 50), "so_ids": ("so_id", 50)},
    {"status": ("status", OUTBOUND_STATUSES)},
    {0: "modified", 2: "io_date"},
)
REFUND = StreamSpec(
    "refund",
    "/open/refund/single/query",
    "as_id",
    {"as_ids": ("as_id", 50), "o_ids": ("o_id", 50), "so_ids": ("so_id", 50)},
    {
        "status": ("status", REFUND_STATUSES),
        "good_status": ("good_status", GOOD_STATUSES),
        "type": ("type", AFTERSALE_TYPES),
    },
)
RECEIVED = StreamSpec(
    "aftersale_received",
    "/open/aftersale/received/query",
    "io_id",
    {"as_ids": ("as_id", 50), "o_ids": ("o_id", 50), "io_ids": ("io_id", 50)},
    date_types={0: "modified", 1: "_created", 2: "_order_date", 4: "io_date"},
)
DOCUMENT_STREAMS = (OUTBOUND, REFUND, RECEIVED)


def public_row(row: dict[str, Any]) -> dict[str, Any]:
    """A copy safe to hand out: internal fields dropped, items copied."""
    copy = {name: value for name, value in row.items() if not name.startswith("_")}
    if "items" in copy:
        copy["items"] = [dict(item) for item in copy["items"]]
    return copy


class DocumentTable:
    """Latest version of each document of one stream, ts-indexed. Not locked: ErpStore is."""

    def __init__(self, spec: StreamSpec):
        self.spec = spec
        self.rows: dict[Any, dict[str, Any]] = {}
        self.index = TsIndex()
        self.shop_index: defaultdict[str, TsIndex] = defaultdict(TsIndex)  # per-shop partitions
        self.lookup: dict[str, defaultdict[str, set[Any]]] = {
            row_field: defaultdict(set) for row_field, _ in spec.id_filters.values()
        }

    def __len__(self) -> int:
        return len(self.rows)

    def put(self, row: dict[str, Any]) -> None:
        """Store (or replace) a document; the caller has stamped its ts and modified."""
        key = row[self.spec.key]
        self.rows[key] = row
        self.index.put(key, int(row["ts"]), str(row["modified"]))
        self.shop_index[str(row["shop_id"])].put(key, int(row["ts"]), str(row["modified"]))
        for row_field, values in self.lookup.items():
            values[str(row[row_field])].add(key)

    def snapshot(self) -> list[dict[str, Any]]:
        return [public_row(self.rows[key]) for key in sorted(self.rows)]

    def query(
        self, params: dict[str, Any], *, overlap: int = 0, ts_inclusive: bool = False
    ) -> dict[str, Any]:
        spec = self.spec
        page_index = int_param(params, "page_index", 1, 1, 10**6)
        page_size = int_param(params, "page_size", spec.default_page_size, 1, spec.max_page_size)
        date_type = int_param(params, "date_type", 0, 0, 99)
        if date_type not in spec.date_types:
            raise ParameterError(f"date_type must be one of {sorted(spec.date_types)}")
        date_field = spec.date_types[date_type]
        bounds = window(params)
        cursor = cursor_param(params, spec.cursor_param)
        shop_id = str(params["shop_id"]) if params.get("shop_id") not in (None, "", 0) else None
        chosen = {
            row_field: choice_list(params, name, allowed)
            for name, (row_field, allowed) in spec.choice_filters.items()
        }
        candidates = self._candidates(params)

        def accepted(row: dict[str, Any]) -> bool:
            if shop_id is not None and str(row["shop_id"]) != shop_id:
                return False
            for row_field, values in chosen.items():
                if values is not None and row[row_field] not in values:
                    return False
            return in_window(row.get(date_field), bounds)

        unfiltered = shop_id is None and bounds is None and not any(chosen.values())

        def matches() -> Iterator[dict[str, Any]]:
            rows = self.rows
            if candidates is not None:
                keys = sorted(candidates, key=lambda key: rows[key]["ts"])
                entries: Iterator[tuple[int, Any]] = ((rows[key]["ts"], key) for key in keys)
                if cursor is not None:
                    entries = (
                        e for e in entries if e[0] > cursor or (ts_inclusive and e[0] == cursor)
                    )
            else:
                start = bounds[0] if bounds is not None and date_field == "modified" else ""
                index = self.index if shop_id is None else self.shop_index.get(shop_id, TsIndex())
                entries = index.after(cursor, inclusive=ts_inclusive, modified_from=start)
            if unfiltered:  # the connector's usual call: no per-row checks at all
                return (rows[key] for _, key in entries)
            return (row for row in (rows[key] for _, key in entries) if accepted(row))

        with_total = truthy(params.get("is_get_total"))
        known = None
        if with_total and candidates is None and bounds is None and not any(chosen.values()):
            index = self.index if shop_id is None else self.shop_index.get(shop_id, TsIndex())
            known = index.count_after(cursor, inclusive=ts_inclusive)
        rows, has_next, total = collect_page(
            matches(), page_index, page_size, with_total, overlap, known
        )
        if overlap and cursor is not None and page_index == 1:
            earlier = [self.rows[key] for _, key in self.index.last_before(cursor, overlap * 4)]
            rows = [row for row in earlier if accepted(row)][-overlap:] + rows
        return page_data(
            [public_row(row) for row in rows], spec.list_key, page_index, page_size, has_next, total
        )

    def _candidates(self, params: dict[str, Any]) -> set[Any] | None:
        """Keys allowed by the id-list filters (intersected), or None when none is given."""
        found: set[Any] | None = None
        for name, (row_field, limit) in self.spec.id_filters.items():
            ids = id_list(params, name, limit)
            if ids is None:
                continue
            keys: set[Any] = set()
            for value in ids:
                keys |= self.lookup[row_field].get(value, set())
            found = keys if found is None else found & keys
        return found
