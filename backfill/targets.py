"""Where each fact stream lands in the warehouse, for reconciling it against the ERP.

A stream's ERP rows and its DWD rows meet on the business key and the ERP rowversion
(``ts`` = the DWD's ``_version``); ``amount`` is the money (or quantity) a day of the
stream adds up to, compared per shop. ``id_filter`` fetches chosen documents by id (the
API's ``io_ids``/``as_ids``/``sku_ids``), which is how facts whose dimension arrived
after Flink's join state expired are re-pulled and widened again; ``widened`` lists the
DWD tables whose ``dim_status``/``dim_gaps`` mark a fact landed without a dimension,
with the dimension table and column that would fill the gap.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DimensionGap:
    """Facts in ``table`` marked ``marker`` in ``column`` whose ``key`` the dimension
    ``dimension`` has now; ``document`` is the column naming the fact to re-pull."""

    table: str
    column: str
    marker: str
    key: str
    dimension: str
    document: str


@dataclass(frozen=True)
class ServingCheck:
    """The serving (DWS) table a screen reads for the stream, per shop and day, and the
    same figures computed from the DWD: they must agree once the refresh has run."""

    serving_sql: str  # shop_id, rows, amount WHERE the day is {day:Date}
    dwd_sql: str


@dataclass(frozen=True)
class WarehouseTarget:
    stream: str
    table: str
    key: tuple[str, ...]  # DWD columns; ERP row fields, or the partition's filter (wms_co_id)
    amount: str | None  # ERP field and DWD column summed per shop (None: rows only)
    id_filter: tuple[str, int]  # API parameter to fetch by id, and the most ids per call
    gaps: tuple[DimensionGap, ...] = ()
    shop: str | None = "shop_id"
    serving: ServingCheck | None = None

    def erp_key(self, row: dict[str, object], filters: dict[str, object]) -> str:
        return "|".join(str(row[c] if c in row else filters[c]) for c in self.key)


def _shop_gap(table: str, document: str) -> DimensionGap:
    return DimensionGap(table, "dim_status", "unknown_shop", "shop_id", "dim_shop", document)


def _sku_gap(table: str, document: str) -> DimensionGap:
    return DimensionGap(table, "dim_gaps", "unknown_sku", "sku_id", "dim_sku", document)


def _per_shop(table: str, day: str, rows: str, amount: str, final: str = "") -> str:
    return (f"SELECT shop_id, toUInt64({rows}), toDecimal128({amount}, 4) FROM {table} {final} "
            f"WHERE {day} = {{day:Date}} GROUP BY shop_id")  # fmt: skip


CONFIRMED = "status = 'Confirmed'"
SERVING: dict[str, ServingCheck] = {
    "outbound": ServingCheck(
        _per_shop("dws_sale_out_hourly", "toDate(hour)", "sum(documents)", "sum(pay_amount)"),
        _per_shop("dwd_sale_out", "toDate(ifNull(io_date, modified))", "count()",
                  f"sumIf(pay_amount, {CONFIRMED})", "FINAL"),
    ),
    "refund": ServingCheck(
        _per_shop("dws_refund_daily", "day", "sum(documents)", "sum(refund)"),
        _per_shop("dwd_refund", "toDate(ifNull(as_date, modified))", "count()",
                  f"sumIf(refund, {CONFIRMED})", "FINAL"),
    ),
    "aftersale_received": ServingCheck(
        _per_shop("dws_received_daily", "day", "sum(receipts)", "0"),
        _per_shop("dwd_aftersale_received", "toDate(ifNull(io_date, modified))", "count()", "0",
                  "FINAL"),
    ),
}  # fmt: skip

TARGETS: dict[str, WarehouseTarget] = {
    "inventory": WarehouseTarget(
        "inventory", "dws_inventory", ("sku_id", "wms_co_id"), "qty", ("sku_ids", 100),
        gaps=(DimensionGap("dws_inventory", "dim_status", "unknown_sku", "sku_id", "dim_sku",
                           "sku_id"),),
        shop=None,
    ),
    "outbound": WarehouseTarget(
        "outbound", "dwd_sale_out", ("io_id",), "pay_amount", ("io_ids", 50),
        gaps=(_shop_gap("dwd_sale_out", "io_id"), _sku_gap("dwd_sale_out_item", "io_id")),
        serving=SERVING["outbound"],
    ),
    "refund": WarehouseTarget(
        "refund", "dwd_refund", ("as_id",), "refund", ("as_ids", 50),
        gaps=(_shop_gap("dwd_refund", "as_id"), _sku_gap("dwd_refund_item", "as_id")),
        serving=SERVING["refund"],
    ),
    "aftersale_received": WarehouseTarget(
        "aftersale_received", "dwd_aftersale_received", ("io_id",), None, ("io_ids", 50),
        gaps=(_shop_gap("dwd_aftersale_received", "io_id"),
              _sku_gap("dwd_aftersale_received_item", "io_id")),
        serving=SERVING["aftersale_received"],
    ),
}  # fmt: skip
