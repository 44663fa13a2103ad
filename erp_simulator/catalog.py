"""Deterministic seeded generation of warehouses, shops, SKUs and inventory rows."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.models import BEIJING, format_erp_time

PROVINCES = [
    ("浙江", "杭州"),
    ("广东", "广州"),
    ("上海", "上海"),
    ("北京", "北京"),
    ("四川", "成都"),
    ("湖北", "武汉"),
    ("江苏", "苏州"),
    ("山东", "济南"),
    ("河南", "郑州"),
    ("陕西", "西安"),
    ("辽宁", "沈阳"),
    ("福建", "厦门"),
]
CATEGORIES: dict[str, list[tuple[str, float]]] = {  # category -> (leaf, base cost price)
    "女装": [("连衣裙", 85.0), ("T恤", 30.0), ("外套", 160.0)],
    "男装": [("衬衫", 60.0), ("卫衣", 75.0), ("牛仔裤", 90.0)],
    "鞋靴": [("运动鞋", 140.0), ("凉鞋", 45.0)],
    "美妆": [("面霜", 55.0), ("口红", 35.0), ("面膜", 20.0)],
    "食品": [("坚果", 25.0), ("茶叶", 60.0), ("零食礼包", 40.0)],
    "家居": [("四件套", 120.0), ("收纳盒", 15.0)],
    "数码配件": [("数据线", 8.0), ("蓝牙耳机", 65.0), ("充电宝", 50.0)],
}
BRANDS = ["森屿", "北极绒", "南岸", "青禾", "云朵", "木子", "橙果", "星河", "松间", "半亩"]
COLORS = [("红色", "RD"), ("黑色", "BK"), ("白色", "WT"), ("蓝色", "BL"), ("灰色", "GY")]
SIZES = ["S", "M", "L", "XL"]
SUPPLIERS = [
    (3001 + n, name)
    for n, name in enumerate(
        [
            "义乌华创",
            "广州衣尚",
            "杭州织造",
            "深圳优品",
            "泉州鞋业",
            "上海美研",
            "临安山货",
            "宁波家纺",
        ]
    )
]
PLATFORMS = [
    ("淘宝", "taobao"),
    ("天猫", "tmall"),
    ("京东", "jd"),
    ("拼多多", "pdd"),
    ("抖音", "douyin"),
    ("快手", "kuaishou"),
]
CO_ID = 10_174_711
# ``ts`` is a rowversion: it only grows. A simulator restarted on the same run folder
# regenerates its history, so its counter starts from the wall clock (1,000 per second
# since this moment, above what a run can use: a few hundred per second at a promotion's
# peak): what a connector read before the restart stays below its cursor, and every
# change after the restart is above it.
TS_CLOCK_ORIGIN = datetime(2026, 1, 1, tzinfo=BEIJING).timestamp()


@dataclass
class Catalog:
    warehouses: list[dict[str, Any]]
    shops: list[dict[str, Any]]
    skus: dict[str, dict[str, Any]]
    inventory: dict[tuple[int, str], dict[str, Any]]  # (wms_co_id, sku_id) -> row
    next_ts: int


def _category_ids() -> dict[tuple[str, str], int]:
    ids: dict[tuple[str, str], int] = {}
    for n, (category, leaves) in enumerate(CATEGORIES.items()):
        for m, (leaf, _) in enumerate(leaves):
            ids[(category, leaf)] = 1000 + n * 100 + m
    return ids


CATEGORY_IDS = _category_ids()


def make_warehouses(count: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(count):
        province, city = PROVINCES[n % len(PROVINCES)]
        rows.append(
            {
                "wms_co_id": 10_200_001 + n,
                "co_id": CO_ID,
                "name": f"{city}仓",
                "is_main": n == 0,
                "status": "生效",
                "province": province,
                "city": city,
                "remark1": province,
                "remark2": city,
            }
        )
    return rows


def make_shops(start: datetime) -> list[dict[str, Any]]:
    shops = []
    for n, (platform, site) in enumerate(PLATFORMS):
        shops.append(
            {
                "shop_id": 16_000_001 + n,
                "shop_name": f"{BRANDS[n]}{platform}旗舰店",
                "co_id": CO_ID,
                "shop_site": platform,
                "shop_url": f"https://{site}.example/shop/{16_000_001 + n}",
                "created": format_erp_time(start - timedelta(days=900 - n * 60)),
                "nick": f"{BRANDS[n]}官方",
                "short_name": f"{BRANDS[n]}{platform}",
                "group_id": 1 + n % 2,
                "group_name": "自营" if n % 2 == 0 else "分销",
            }
        )
    return shops


def make_skus(rng: random.Random, count: int, now: datetime) -> dict[str, dict[str, Any]]:
    skus: dict[str, dict[str, Any]] = {}
    style = 0
    autoid = 1
    while len(skus) < count:
        style += 1
        category = rng.choice(list(CATEGORIES))
        leaf, base_cost = rng.choice(CATEGORIES[category])
        brand = rng.choice(BRANDS)
        supplier_id, supplier_name = rng.choice(SUPPLIERS)
        i_id = f"I{style:05d}"
        style_cost = round(base_cost * rng.uniform(0.7, 1.5), 2)
        created = now - timedelta(days=rng.uniform(30, 730))
        variants = [
            (c, s)
            for c in rng.sample(COLORS, rng.randint(1, 3))
            for s in rng.sample(SIZES, rng.randint(1, 2))
        ]
        for (color, color_code), size in variants:
            if len(skus) >= count:
                break
            sku_id = f"{i_id}-{color_code}-{size}"
            cost = round(style_cost * rng.uniform(0.95, 1.05), 2)
            sale = round(cost * rng.uniform(1.6, 3.0), 1)
            modified = now - timedelta(seconds=rng.uniform(0, 180 * 86400))
            modified = max(modified, created)
            skus[sku_id] = {
                "sku_id": sku_id,
                "i_id": i_id,
                "name": f"{brand} {leaf} {color} {size}",
                "short_name": f"{brand}{leaf}",
                "sale_price": sale,
                "cost_price": cost,
                "market_price": round(sale * 1.3, 1),
                "properties_value": f"{color};{size}",
                "color": color,
                "c_id": CATEGORY_IDS[(category, leaf)],
                "category": leaf,
                "brand": brand,
                "supplier_id": supplier_id,
                "supplier_name": supplier_name,
                "modified": format_erp_time(modified),
                "created": format_erp_time(created),
                "sku_code": f"69{rng.randint(10**10, 10**11 - 1)}",
                "enabled": rng.choices([1, 0, -1], weights=[95, 4, 1])[0],
                "autoid": autoid,
            }
            autoid += 1
    return skus


def fast_int(rng: random.Random, low: int, high: int) -> int:
    """``rng.randint`` at a third of the cost (it dominates generating 30,000 SKUs)."""
    return low + int(rng.random() * (high - low + 1))


def _sometimes(rng: random.Random, share: float, low: int, high: int) -> int:
    return fast_int(rng, low, high) if rng.random() < share else 0


def inventory_quantities(rng: random.Random) -> dict[str, int]:
    """One warehouse's stock of one SKU, with some below safety stock and some overstock."""
    min_qty = fast_int(rng, 5, 50)
    max_qty = fast_int(rng, 300, 1200)
    shape = rng.random()
    if shape < 0.05:
        qty = 0
    elif shape < 0.15:
        qty = fast_int(rng, 1, min_qty)
    elif shape < 0.20:
        qty = fast_int(rng, max_qty, max_qty * 2)
    elif shape < 0.202:
        qty = -fast_int(rng, 1, 5)  # the anomaly the cleaning rules must flag
    else:
        qty = fast_int(rng, min_qty, max_qty)
    order_lock = fast_int(rng, 0, max(0, qty) // 5)
    return {
        "qty": qty,
        "order_lock": order_lock,
        "pick_lock": fast_int(rng, 0, order_lock),
        "virtual_qty": _sometimes(rng, 0.25, 1, 50),
        "purchase_qty": _sometimes(rng, 0.33, 10, 300),
        "return_qty": fast_int(rng, 0, 5),
        "in_qty": _sometimes(rng, 0.5, 0, 100),
        "defective_qty": _sometimes(rng, 0.25, 1, 10),
        "min_qty": min_qty,
        "max_qty": max_qty,
        "lock_qty": _sometimes(rng, 0.33, 0, 20),
        "allocate_qty": 0,
        "sale_refund_qty": fast_int(rng, 0, 3),
    }


class TimeFormatter:
    """``format_erp_time`` for many instants: the date part is formatted once per day."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, epoch_seconds: float) -> str:
        whole = int(epoch_seconds) + 8 * 3600  # Beijing has no daylight saving
        day, second = divmod(whole, 86400)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = datetime.fromtimestamp(day * 86400, BEIJING).strftime("%Y-%m-%d")
            self._days[day] = prefix
        hour, rest = divmod(second, 3600)
        return f"{prefix} {hour:02d}:{rest // 60:02d}:{rest % 60:02d}"


def generate(
    seed: int,
    sku_count: int,
    warehouse_count: int,
    now: datetime,
    *,
    quiet_seconds: float = 0.0,
) -> Catalog:
    """Same seed + counts + ``now`` -> the same catalog, byte for byte.

    A later ``now`` starts ``ts`` higher (see ``TS_CLOCK_ORIGIN``).
    Stock rows were last modified within the 30 days before ``now - quiet_seconds``:
    the simulated history (backfill) then writes the quiet stretch, so ``ts`` keeps
    following ``modified`` across catalog and history.
    """
    rng = random.Random(seed)
    warehouses = make_warehouses(warehouse_count)
    skus = make_skus(rng, sku_count, now)
    latest = now.timestamp() - quiet_seconds
    versions: list[tuple[float, int, str, dict[str, Any]]] = []
    for warehouse in warehouses:
        wms_co_id = warehouse["wms_co_id"]
        for sku_id in skus:
            modified = latest - rng.random() * 30 * 86400
            row = {"sku_id": sku_id, **inventory_quantities(rng)}
            versions.append((modified, wms_co_id, sku_id, row))
    versions.sort(key=lambda item: (item[0], item[1], item[2]))
    ts = 10**11 + fast_int(rng, 0, 10**9) + max(0, int((now.timestamp() - TS_CLOCK_ORIGIN) * 1000))
    formatter = TimeFormatter()
    inventory: dict[tuple[int, str], dict[str, Any]] = {}
    for modified, wms_co_id, sku_id, row in versions:
        ts += 1 + int(rng.random() * 7)  # rowversion is database-wide: gaps are normal
        row["ts"] = ts
        row["modified"] = formatter(modified)
        inventory[(wms_co_id, sku_id)] = row
    return Catalog(warehouses, make_shops(now), skus, inventory, ts + 1)
