"""Typed rows mirroring the API fields, and the dead-letter record for rows that fail.

Models are lax on input types (the API sends numbers as strings now and then) and keep
unknown fields (``extra="allow"``): the ODS topics carry the raw record. Only what the
pipeline relies on is enforced: the key, ``ts`` as a big integer, ``modified`` in
``yyyy-MM-dd HH:mm:ss`` Beijing time. Negative quantities are NOT rejected here; the
Flink jobs flag them as anomalies.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
ERP_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def parse_erp_time(value: str) -> datetime:
    """``yyyy-MM-dd HH:mm:ss`` (Beijing) -> aware datetime."""
    return datetime.strptime(value, ERP_TIME_FORMAT).replace(tzinfo=BEIJING)


def format_erp_time(moment: datetime) -> str:
    """Aware (or Beijing-naive) datetime -> ``yyyy-MM-dd HH:mm:ss`` Beijing time."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(BEIJING)
    return moment.strftime(ERP_TIME_FORMAT)


def now_millis() -> int:
    return int(time.time() * 1000)


class ErpRow(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, coerce_numbers_to_str=True)

    @field_validator("modified", "created", check_fields=False)
    @classmethod
    def _erp_time(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parse_erp_time(value)  # raises ValueError -> dead letter
        return value


class InventoryRow(ErpRow):
    """One row of ``/open/inventory/query`` (``inventorys``), for one warehouse."""

    sku_id: str = Field(min_length=1)
    ts: int = Field(ge=0)
    i_id: str | None = None
    name: str | None = None
    qty: int = 0
    order_lock: int | None = None
    pick_lock: int | None = None
    virtual_qty: int | None = None
    purchase_qty: int | None = None
    return_qty: int | None = None
    in_qty: int | None = None
    defective_qty: int | None = None
    min_qty: int | None = None
    max_qty: int | None = None
    lock_qty: int | None = None
    allocate_qty: int | None = None
    sale_refund_qty: int | None = None
    modified: str | None = None


class SkuRow(ErpRow):
    """One row of ``/open/sku/query`` (``datas``). There is no ``ts``: key + modified."""

    sku_id: str = Field(min_length=1)
    i_id: str | None = None
    name: str | None = None
    short_name: str | None = None
    sale_price: float | None = None
    cost_price: float | None = None
    market_price: float | None = None
    properties_value: str | None = None
    color: str | None = None
    c_id: int | None = None
    category: str | None = None
    brand: str | None = None
    supplier_id: int | None = None
    supplier_name: str | None = None
    sku_code: str | None = None
    enabled: int | None = Field(default=None, ge=-1, le=1)
    autoid: int | None = None
    modified: str = Field(min_length=1)
    created: str | None = None


class WarehouseRow(ErpRow):
    """One warehouse (分仓) of ``/open/wms/partner/query``; province feeds the map screen."""

    wms_co_id: int = Field(gt=0)
    name: str = ""
    co_id: int | None = None
    is_main: bool | None = None
    status: str | None = None
    province: str = ""
    city: str = ""


class ShopRow(ErpRow):
    """One shop of ``/open/shops/query`` (``datas``): full-scan dimension, no modified time."""

    shop_id: int = Field(gt=0)
    shop_name: str = ""
    co_id: int | None = None
    shop_site: str | None = None
    shop_url: str | None = None
    created: str | None = None
    nick: str | None = None
    short_name: str | None = None
    group_id: int | None = None
    group_name: str | None = None


class ErpItem(BaseModel):
    """A line of a document's ``items[]``; unknown fields are kept like on rows."""

    model_config = ConfigDict(extra="allow", frozen=True, coerce_numbers_to_str=True)


class TsDocumentRow(ErpRow):
    """A document read by the ``start_ts`` cursor: ``ts`` (rowversion) and ``modified``."""

    ts: int = Field(ge=0)
    modified: str = Field(min_length=1)


class OutboundItem(ErpItem):
    ioi_id: int | None = None
    sku_id: str | None = None
    i_id: str | None = None
    qty: int = 0
    name: str | None = None
    properties_value: str | None = None
    sale_price: float | None = None
    sale_amount: float | None = None
    sale_base_price: float | None = None
    oi_id: int | None = None
    combine_sku_id: str | None = None
    is_gift: bool | None = None


class OutboundRow(TsDocumentRow):
    """One sales outbound document (销售出库单) of ``/open/orders/out/simple/query``."""

    io_id: int = Field(gt=0)
    co_id: int | None = None
    shop_id: int | None = None
    o_id: int | None = None
    so_id: str | None = None
    created: str | None = None
    status: str | None = None
    order_type: str | None = None
    pay_amount: float | None = None
    paid_amount: float | None = None
    free_amount: float | None = None
    freight: float | None = None
    l_id: str | None = None
    io_date: str | None = None
    lc_id: str | None = None
    logistics_company: str | None = None
    wms_co_id: int | None = None
    shop_name: str | None = None
    labels: str | list[str] | None = None
    currency: str | None = None
    pay_date: str | None = None
    weight: float | None = None
    items: list[OutboundItem] = Field(default_factory=list)


class RefundItem(ErpItem):
    asi_id: int | None = None
    as_id: int | None = None
    sku_id: str | None = None
    i_id: str | None = None
    qty: int = 0
    r_qty: int | None = None
    price: float | None = None
    amount: float | None = None
    type: str | None = None
    defective_qty: int | None = None
    receive_date: str | None = None
    name: str | None = None
    properties_value: str | None = None


class RefundRow(TsDocumentRow):
    """One after-sale document (售后单) of ``/open/refund/single/query``."""

    as_id: int = Field(gt=0)
    as_date: str | None = None
    outer_as_id: str | None = None
    o_id: int | None = None
    so_id: str | None = None
    type: str | None = None
    created: str | None = None
    status: str | None = None
    confirm_date: str | None = None
    shop_status: str | None = None
    good_status: str | None = None
    order_status: str | None = None
    refund: float | None = None
    payment: float | None = None
    free_amount: float | None = None
    freight: float | None = None
    shop_id: int | None = None
    shop_name: str | None = None
    wms_co_id: int | None = None
    wh_id: int | None = None
    warehouse: str | None = None
    l_id: str | None = None
    question_type: str | None = None
    labels: str | list[str] | None = None
    items: list[RefundItem] = Field(default_factory=list)


class AftersaleReceivedItem(ErpItem):
    ioi_id: int | None = None
    sku_id: str | None = None
    qty: int = 0
    name: str | None = None
    sale_price: float | None = None
    sale_amount: float | None = None


class AftersaleReceivedRow(TsDocumentRow):
    """One after-sale receipt (售后收货单) of ``/open/aftersale/received/query``.

    ``wh_id``: 1 main, 2 sales-return, 3 inbound, 4 defective warehouse.
    """

    io_id: int = Field(gt=0)
    o_id: int | None = None
    so_id: str | None = None
    as_id: int | None = None
    io_date: str | None = None
    warehouse: str | None = None
    shop_id: int | None = None
    status: str | None = None
    wh_id: int | None = None
    wms_co_id: int | None = None
    type: str | None = None
    items: list[AftersaleReceivedItem] = Field(default_factory=list)


class DeadLetterRecord(BaseModel):
    """A record that could not be used, kept with its raw payload for replay."""

    model_config = ConfigDict(frozen=True)

    stream: str
    source: str
    reason: str
    raw: Any
    context: dict[str, Any] = Field(default_factory=dict)
    failed_at: int = Field(default_factory=now_millis)


RowT = TypeVar("RowT", bound=ErpRow)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(piece) for piece in item["loc"]) or "<row>"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def validate_rows(
    model: type[RowT],
    rows: Iterable[Any],
    *,
    stream: str,
    source: str,
    context: Mapping[str, Any] | None = None,
) -> tuple[list[RowT], list[DeadLetterRecord]]:
    """Split raw rows into valid models and dead-letter records (never raises)."""
    valid: list[RowT] = []
    dead: list[DeadLetterRecord] = []
    for raw in rows:
        try:
            if not isinstance(raw, Mapping):
                raise TypeError(f"row is {type(raw).__name__}, expected an object")
            valid.append(model.model_validate(raw))
        except ValidationError as error:
            dead.append(
                DeadLetterRecord(
                    stream=stream,
                    source=source,
                    reason=_describe(error),
                    raw=raw,
                    context=dict(context or {}),
                )
            )
        except TypeError as error:
            dead.append(
                DeadLetterRecord(
                    stream=stream,
                    source=source,
                    reason=str(error),
                    raw=raw,
                    context=dict(context or {}),
                )
            )
    return valid, dead
