"""Dimension views (latest row per key) and their landing rows for ClickHouse.

Dimensions come from compacted Kafka topics and are joined as updating tables
(regular LEFT JOINs): a fact that arrives before its dimension lands marked unknown,
and is emitted again, widened, when the dimension arrives or changes (a category
move reaches the big screen without a batch job). Why this and not a JDBC lookup join
with a cache: no extra database to run, no 5-minute staleness, and re-widening of late
facts comes for free; the cost is join state, bounded by a TTL on the fact side.
"""

from __future__ import annotations

from common import streams
from flink_jobs.sql_builder import sink_projection

DIMENSION_STREAMS = streams.DIMENSION_STREAMS
# The dead-letter stream of each dimension table (dim_shop joins the shop list and the sheet).
STREAM_BY_TABLE = {"dim_sku": "sku", "dim_warehouse": "warehouse", "dim_shop": "shop"}


def _latest(view: str, stream: str, key: str, columns: str, order: str, where: str) -> str:
    return f"""
CREATE TEMPORARY VIEW {view} AS
SELECT * FROM (
  SELECT {columns},
    ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY {order}) AS row_number_in_key
  FROM ods_{stream}
  WHERE payload IS JSON OBJECT AND {where}
) WHERE row_number_in_key = 1"""


def _text(name: str, alias: str | None = None) -> str:
    return f"COALESCE(JSON_VALUE(payload, '$.{name}'), '') AS {alias or name}"


def _number(name: str, kind: str, alias: str | None = None) -> str:
    zero = f"CAST(0 AS {kind})"
    return (
        f"COALESCE(TRY_CAST(JSON_VALUE(payload, '$.{name}') AS {kind}), {zero}) AS {alias or name}"
    )


INGESTED = _number("_ingested_at", "BIGINT", "ingested_at")


def sku_latest_view() -> str:
    columns = ", ".join([
        "JSON_VALUE(payload, '$.sku_id') AS sku_id", _text("name", "sku_name"), _text("category"),
        _text("brand"), _number("cost_price", "DECIMAL(18, 4)"), _text("i_id"),
        _text("short_name"), _number("sale_price", "DECIMAL(18, 4)"),
        _text("properties_value"), _text("supplier_name"), _number("enabled", "INT"),
        "JSON_VALUE(payload, '$.modified') AS modified", INGESTED,
    ])  # fmt: skip
    return _latest(
        "sku_latest", "sku", "JSON_VALUE(payload, '$.sku_id')", columns,
        "COALESCE(JSON_VALUE(payload, '$.modified'), '') DESC, "
        "TRY_CAST(JSON_VALUE(payload, '$._ingested_at') AS BIGINT) DESC",
        "COALESCE(JSON_VALUE(payload, '$.sku_id'), '') <> ''",
    )  # fmt: skip


def warehouse_latest_view() -> str:
    wms = "TRY_CAST(JSON_VALUE(payload, '$.wms_co_id') AS BIGINT)"
    columns = ", ".join(
        [f"{wms} AS wms_co_id", _text("name", "warehouse_name"), _text("province"), _text("city"),
         INGESTED]
    )  # fmt: skip
    return _latest(
        "warehouse_latest", "warehouse", wms, columns,
        "TRY_CAST(JSON_VALUE(payload, '$._ingested_at') AS BIGINT) DESC", f"{wms} IS NOT NULL",
    )  # fmt: skip


def shop_latest_view() -> str:
    shop = "TRY_CAST(JSON_VALUE(payload, '$.shop_id') AS BIGINT)"
    columns = ", ".join(
        [f"{shop} AS shop_id", _text("shop_name"), _text("shop_site"), _text("nick"), INGESTED]
    )
    return _latest(
        "shop_latest", "shop", shop, columns,
        "TRY_CAST(JSON_VALUE(payload, '$._ingested_at') AS BIGINT) DESC", f"{shop} IS NOT NULL",
    )  # fmt: skip


def shop_sheet_latest_view() -> str:
    shop = "TRY_CAST(JSON_VALUE(payload, '$.shop_id') AS BIGINT)"
    columns = ", ".join([
        f"{shop} AS shop_id", _text("owner"), _text("region"),
        _number("platform_fee_rate", "DECIMAL(9, 6)"), INGESTED,
    ])  # fmt: skip
    return _latest(
        "shop_sheet_latest", "shop_sheet", shop, columns,
        "TRY_CAST(JSON_VALUE(payload, '$._ingested_at') AS BIGINT) DESC", f"{shop} IS NOT NULL",
    )  # fmt: skip


def shop_dim_view() -> str:
    return """
CREATE TEMPORARY VIEW shop_dim AS
SELECT s.shop_id, s.shop_name, s.shop_site, s.nick,
  sheet.owner, sheet.region, sheet.platform_fee_rate,
  GREATEST(s.ingested_at, COALESCE(sheet.ingested_at, 0)) AS ingested_at
FROM shop_latest AS s
LEFT JOIN shop_sheet_latest AS sheet ON s.shop_id = sheet.shop_id"""


def views() -> list[str]:
    return [
        sku_latest_view(), warehouse_latest_view(), shop_latest_view(),
        shop_sheet_latest_view(), shop_dim_view(),
    ]  # fmt: skip


def sink_rows() -> list[str]:
    sku = sink_projection(
        "dim_sku", "sku_id",
        {name: name for name in (
            "sku_id", "i_id", "sku_name", "short_name", "category", "brand", "cost_price",
            "sale_price", "properties_value", "supplier_name", "enabled", "modified")}
        | {"_version": "ingested_at"},
        "sku_latest",
    )  # fmt: skip
    shop = sink_projection(
        "dim_shop", "CAST(shop_id AS STRING)",
        {"shop_id": "shop_id", "shop_name": "shop_name", "platform": "shop_site", "nick": "nick",
         "shop_owner": "COALESCE(owner, '')", "shop_region": "COALESCE(region, '')",
         "platform_fee_rate": "COALESCE(platform_fee_rate, CAST(0 AS DECIMAL(9, 6)))",
         "_version": "ingested_at"},
        "shop_dim",
    )  # fmt: skip
    warehouse = sink_projection(
        "dim_warehouse", "CAST(wms_co_id AS STRING)",
        {"wms_co_id": "wms_co_id", "warehouse_name": "warehouse_name", "province": "province",
         "city": "city", "_version": "ingested_at"},
        "warehouse_latest",
    )  # fmt: skip
    return [sku, shop, warehouse]
