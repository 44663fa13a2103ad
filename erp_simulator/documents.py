"""Builders of sales-outbound, after-sale and after-sale-received documents.

Field names are exactly those of jushuitan-api.md. Money is consistent by construction:
``sale_amount = sale_price x qty`` per item and ``pay_amount = sum(sale_amount) -
free_amount + freight`` per document, so the warehouse's finance metrics can be
checked against the source. ``ts`` and ``modified`` are stamped by the store.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connectors.models import format_erp_time
from erp_simulator.catalog import CO_ID

LOGISTICS = [  # (lc_id, name, share)
    ("SF", "顺丰速运", 0.22),
    ("ZTO", "中通快递", 0.24),
    ("YTO", "圆通速递", 0.18),
    ("YUNDA", "韵达快递", 0.13),
    ("STO", "申通快递", 0.10),
    ("JD", "京东物流", 0.09),
    ("EMS", "邮政EMS", 0.04),
]
PLATFORM_SHARE = {
    "天猫": 0.27,
    "淘宝": 0.14,
    "京东": 0.20,
    "拼多多": 0.17,
    "抖音": 0.16,
    "快手": 0.06,
}
SO_PREFIX = {"天猫": "", "淘宝": "", "京东": "JD", "拼多多": "PDD", "抖音": "DY", "快手": "KS"}
AFTERSALE_TYPE_SHARE = {
    "普通退货": 0.44,
    "仅退款": 0.30,
    "换货": 0.08,
    "拒收退货": 0.06,
    "补发": 0.04,
    "其它": 0.03,
    "维修": 0.03,
    "投诉": 0.02,
}
REASON_SHARE = {
    "七天无理由退换货": 0.22,
    "尺码不合适": 0.12,
    "质量问题": 0.12,
    "不想要了": 0.12,
    "与描述不符": 0.10,
    "包装/商品破损": 0.07,
    "效果不好": 0.07,
    "物流太慢": 0.06,
    "发错货": 0.06,
    "少件/漏发": 0.06,
}
PROBLEM_REASON_SHARE = {"质量问题": 0.55, "与描述不符": 0.25, "包装/商品破损": 0.20}
RETURNS_GOODS = {"普通退货", "拒收退货", "换货", "维修"}  # these produce a received document
NO_MONEY_BACK = {"换货", "补发", "维修"}
ITEM_TYPE = {"换货": "换货", "补发": "补发", "维修": "维修", "仅退款": "仅退款"}
RECEIVED_WAREHOUSES = {1: "主仓", 2: "销退仓", 3: "进货仓", 4: "次品仓"}


@dataclass
class IdSequences:
    """Counters for every document and line id; seeded start values keep runs distinct."""

    next_ids: dict[str, int] = field(
        default_factory=lambda: {
            "o_id": 8_000_001,
            "io_id": 30_000_001,
            "oi_id": 90_000_001,
            "ioi_id": 120_000_001,
            "as_id": 5_000_001,
            "asi_id": 6_000_001,
            "received_io_id": 60_000_001,
            "so_id": 3_100_000_000_001,
        }
    )

    def take(self, name: str) -> int:
        value = self.next_ids[name]
        self.next_ids[name] = value + 1
        return value


def weighted(rng: random.Random, shares: dict[str, float]) -> str:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def build_outbound(
    rng: random.Random,
    ids: IdSequences,
    *,
    shop: dict[str, Any],
    wms_co_id: int,
    lines: Sequence[tuple[dict[str, Any], int]],
    at: datetime,
    promotion: bool,
) -> dict[str, Any]:
    """A new outbound document (status WaitConfirm) for ``lines`` of (SKU row, qty)."""
    io_id = ids.take("io_id")
    discount = rng.uniform(0.65, 0.9) if promotion else rng.choice([1.0, 1.0, 0.95, 0.9])
    items = []
    for sku, qty in lines:
        base = float(sku.get("sale_price") or 9.9)
        price = round(base * discount, 2)
        items.append(_item(ids, sku, qty, price, base, is_gift=False))
    if rng.random() < 0.04:  # a small gift now and then
        gift = lines[0][0]
        items.append(_item(ids, gift, 1, 0.0, float(gift.get("sale_price") or 0), is_gift=True))
    subtotal = round(sum(item["sale_amount"] for item in items), 2)
    free_amount = 0.0
    if subtotal >= 199:
        free_amount = float(rng.choice([10, 20, 30]) if promotion else rng.choice([0, 10, 20]))
    elif subtotal >= 99:
        free_amount = float(rng.choice([0, 5, 10]))
    freight = 0.0 if subtotal >= 59 or rng.random() < 0.6 else float(rng.choice([6, 8, 10]))
    pay_amount = round(subtotal - free_amount + freight, 2)
    lc_id, company, _ = rng.choices(LOGISTICS, weights=[item[2] for item in LOGISTICS])[0]
    platform = str(shop["shop_site"])
    created = format_erp_time(at)
    return {
        "co_id": CO_ID,
        "shop_id": shop["shop_id"],
        "io_id": io_id,
        "o_id": ids.take("o_id"),
        "so_id": f"{SO_PREFIX.get(platform, '')}{ids.take('so_id')}",
        "created": created,
        "modified": created,
        "status": "WaitConfirm",
        "order_type": "普通订单",
        "pay_amount": pay_amount,
        "paid_amount": pay_amount,
        "free_amount": free_amount,
        "freight": freight,
        "l_id": None,
        "io_date": created,
        "lc_id": lc_id,
        "logistics_company": company,
        "wms_co_id": wms_co_id,
        "shop_name": shop["shop_name"],
        "ts": 0,
        "labels": "大促" if promotion else "",
        "currency": "CNY",
        "pay_date": format_erp_time(at - timedelta(seconds=rng.uniform(5, 1800))),
        "weight": round(sum(qty * rng.uniform(0.2, 0.8) for _, qty in lines), 3),
        "items": items,
    }


def _item(
    ids: IdSequences, sku: dict[str, Any], qty: int, price: float, base: float, *, is_gift: bool
) -> dict[str, Any]:
    return {
        "ioi_id": ids.take("ioi_id"),
        "sku_id": sku["sku_id"],
        "i_id": sku.get("i_id"),
        "qty": qty,
        "name": sku.get("name"),
        "properties_value": sku.get("properties_value"),
        "sale_price": price,
        "sale_amount": round(price * qty, 2),
        "sale_base_price": base,
        "oi_id": ids.take("oi_id"),
        "combine_sku_id": None,
        "is_gift": is_gift,
    }


def tracking_number(rng: random.Random, lc_id: str) -> str:
    return f"{lc_id}{rng.randrange(10**11, 10**12)}"


def build_refund(
    rng: random.Random,
    ids: IdSequences,
    *,
    outbound: dict[str, Any],
    lines: Sequence[dict[str, Any]],
    aftersale_type: str,
    reason: str,
    warehouse_name: str,
    at: datetime,
) -> dict[str, Any]:
    """A new after-sale document (WaitConfirm) against outbound ``lines`` (its items)."""
    as_id = ids.take("as_id")
    created = format_erp_time(at)
    items = []
    for line in lines:
        qty = int(line["qty"])
        items.append(
            {
                "asi_id": ids.take("asi_id"),
                "as_id": as_id,
                "sku_id": line["sku_id"],
                "i_id": line.get("i_id"),
                "qty": qty,
                "r_qty": 0,
                "price": line["sale_price"],
                "amount": round(float(line["sale_price"]) * qty, 2),
                "type": ITEM_TYPE.get(aftersale_type, "退货"),
                "defective_qty": 0,
                "receive_date": None,
                "name": line.get("name"),
                "properties_value": line.get("properties_value"),
            }
        )
    amount = round(sum(item["amount"] for item in items), 2)
    refund = 0.0 if aftersale_type in NO_MONEY_BACK else amount
    if aftersale_type == "投诉":
        refund = round(min(amount, rng.choice([5.0, 10.0, 20.0])), 2)
    if aftersale_type == "仅退款":
        good_status = rng.choice(["BUYER_NOT_RECEIVED", "BUYER_RECEIVED"])
    elif aftersale_type == "拒收退货":
        good_status = "BUYER_NOT_RECEIVED"
    elif aftersale_type in RETURNS_GOODS:
        good_status = "BUYER_RETURNED_GOODS"
    else:
        good_status = "BUYER_RECEIVED"
    return {
        "as_id": as_id,
        "as_date": created,
        "outer_as_id": f"R{outbound['so_id']}{rng.randrange(10, 99)}",
        "o_id": outbound["o_id"],
        "so_id": outbound["so_id"],
        "type": aftersale_type,
        "created": created,
        "modified": created,
        "status": "WaitConfirm",
        "confirm_date": None,
        "shop_status": "WAIT_SELLER_AGREE",
        "good_status": good_status,
        "order_status": "Sent",
        "refund": refund,
        "payment": 0.0,
        "free_amount": 0.0,
        "freight": float(rng.choice([0, 0, 0, 6, 8])) if aftersale_type in RETURNS_GOODS else 0.0,
        "shop_id": outbound["shop_id"],
        "shop_name": outbound["shop_name"],
        "wms_co_id": outbound["wms_co_id"],
        "wh_id": 4 if reason == "质量问题" and rng.random() < 0.5 else 2,
        "warehouse": warehouse_name,
        "l_id": None,
        "ts": 0,
        "question_type": reason,
        "labels": "",
        "items": items,
        "_order_date": outbound["created"],
    }


def build_received(
    ids: IdSequences, *, refund: dict[str, Any], warehouse_name: str, at: datetime
) -> dict[str, Any]:
    """The inbound document of goods a buyer sent back (into the refund's wh_id)."""
    when = format_erp_time(at)
    wh_id = int(refund["wh_id"])
    return {
        "io_id": ids.take("received_io_id"),
        "o_id": refund["o_id"],
        "so_id": refund["so_id"],
        "as_id": refund["as_id"],
        "io_date": when,
        "warehouse": f"{warehouse_name}-{RECEIVED_WAREHOUSES[wh_id]}",
        "modified": when,
        "shop_id": refund["shop_id"],
        "ts": 0,
        "status": "Confirmed",
        "wh_id": wh_id,
        "wms_co_id": refund["wms_co_id"],
        "type": "换货" if refund["type"] == "换货" else "退货",
        "items": [
            {
                "ioi_id": ids.take("ioi_id"),
                "sku_id": item["sku_id"],
                "qty": item["qty"],
                "name": item["name"],
                "sale_price": item["price"],
                "sale_amount": item["amount"],
            }
            for item in refund["items"]
        ],
        "_created": when,
        "_order_date": refund["_order_date"],
    }
