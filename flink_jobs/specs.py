"""What each ODS stream looks like: fields, types, keys and validation, as data.

The SQL of the jobs is generated from these specs (``flink_jobs.sql_builder``), so a
field is declared once. Field names follow the Jushuitan API (jushuitan-api.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FieldType = Literal["string", "bigint", "decimal", "time"]


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType = "string"
    required: bool = False


@dataclass(frozen=True)
class StreamSpec:
    """A document stream read from ``<prefix>.ods.<stream>``."""

    stream: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    document_table: str  # the ClickHouse table the documents land in (its DDL decides the checks)
    item_table: str = ""  # the table of the items, if the documents have them
    items: tuple[Field, ...] = ()
    item_key: str = ""
    version_field: str = "ts"
    labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


def _fields(spec: str) -> tuple[Field, ...]:
    """``"io_id:string! qty:bigint"`` -> fields (``!`` marks required)."""
    out = []
    for token in spec.split():
        name, _, kind = token.partition(":")
        required = kind.endswith("!")
        out.append(Field(name, (kind.rstrip("!") or "string"), required))  # type: ignore[arg-type]
    return tuple(out)


OUTBOUND_STATUS = {
    "WaitConfirm": "待出库",
    "Confirmed": "已出库",
    "Delete": "作废",
    "Cancelled": "取消",
    "OuterConfirming": "外部发货中",
}
REFUND_STATUS = {
    "WaitConfirm": "待审核",
    "Confirmed": "已确认",
    "Cancelled": "已取消",
    "Merged": "已合并",
}
GOOD_STATUS = {
    "BUYER_NOT_RECEIVED": "买家未收到货",
    "BUYER_RECEIVED": "买家已收到货",
    "BUYER_RETURNED_GOODS": "买家已退货",
    "SELLER_RECEIVED": "卖家已收货",
}
RECEIVED_WAREHOUSE = {"1": "主仓", "2": "销退仓", "3": "进货仓", "4": "次品仓"}

OUTBOUND = StreamSpec(
    stream="outbound",
    document_table="dwd_sale_out",
    item_table="dwd_sale_out_item",
    key=("io_id",),
    fields=_fields(
        "io_id:string! o_id:string so_id:string co_id:bigint shop_id:bigint! shop_name:string "
        "created:time modified:time! status:string! order_type:string pay_amount:decimal "
        "paid_amount:decimal free_amount:decimal freight:decimal l_id:string io_date:time "
        "lc_id:string logistics_company:string wms_co_id:bigint ts:bigint! labels:string "
        "currency:string pay_date:time weight:decimal"
    ),
    items=_fields(
        "ioi_id:string! sku_id:string! i_id:string qty:bigint! name:string "
        "properties_value:string sale_price:decimal sale_amount:decimal "
        "sale_base_price:decimal oi_id:string combine_sku_id:string is_gift:string"
    ),
    item_key="ioi_id",
    labels={"status": OUTBOUND_STATUS},
)

REFUND = StreamSpec(
    stream="refund",
    document_table="dwd_refund",
    item_table="dwd_refund_item",
    key=("as_id",),
    fields=_fields(
        "as_id:string! as_date:time outer_as_id:string o_id:string so_id:string type:string "
        "created:time modified:time! status:string! confirm_date:time shop_status:string "
        "good_status:string order_status:string refund:decimal payment:decimal "
        "free_amount:decimal freight:decimal shop_id:bigint! shop_name:string wms_co_id:bigint "
        "wh_id:bigint warehouse:string l_id:string ts:bigint! question_type:string labels:string"
    ),
    items=_fields(
        "asi_id:string! sku_id:string! i_id:string qty:bigint! r_qty:bigint price:decimal "
        "amount:decimal type:string defective_qty:bigint receive_date:time name:string "
        "properties_value:string"
    ),
    item_key="asi_id",
    labels={"status": REFUND_STATUS, "good_status": GOOD_STATUS},
)

AFTERSALE_RECEIVED = StreamSpec(
    stream="aftersale_received",
    document_table="dwd_aftersale_received",
    item_table="dwd_aftersale_received_item",
    key=("io_id",),
    fields=_fields(
        "io_id:string! o_id:string so_id:string as_id:string io_date:time warehouse:string "
        "modified:time! shop_id:bigint ts:bigint! status:string wh_id:bigint wms_co_id:bigint "
        "type:string"
    ),
    items=_fields(
        "ioi_id:string! sku_id:string! qty:bigint! name:string sale_price:decimal "
        "sale_amount:decimal"
    ),
    item_key="ioi_id",
    labels={"wh_id": RECEIVED_WAREHOUSE},
)

INVENTORY = StreamSpec(
    stream="inventory",
    document_table="dws_inventory",
    key=("sku_id", "wms_co_id"),
    fields=_fields(
        "sku_id:string! wms_co_id:bigint! i_id:string name:string qty:bigint! order_lock:bigint "
        "pick_lock:bigint virtual_qty:bigint purchase_qty:bigint return_qty:bigint in_qty:bigint "
        "defective_qty:bigint lock_qty:bigint min_qty:bigint max_qty:bigint modified:time! "
        "ts:bigint!"
    ),
)

FACT_STREAMS = (OUTBOUND, REFUND, AFTERSALE_RECEIVED)
