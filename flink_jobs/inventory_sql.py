"""Flink SQL of the inventory stream after parsing (``specs.INVENTORY``): dedupe, clean, widen.

Dedupe keeps the highest ERP ``ts`` per key
(out-of-order and repeated versions collapse); the SKU and warehouse
dimensions are LEFT JOINed as updating tables, so a fact whose dimension is
missing lands as ``unknown_sku`` and is re-emitted, widened, when the
dimension arrives or changes.
"""

from __future__ import annotations

from flink_jobs.sql_builder import sink_projection


def inventory_latest_view() -> str:
    return """
CREATE TEMPORARY VIEW inventory_latest AS
SELECT * FROM (
  SELECT p.*,
    ROW_NUMBER() OVER (PARTITION BY sku_id, wms_co_id ORDER BY ts DESC) AS row_number_in_key
  FROM inventory_parsed AS p
) WHERE row_number_in_key = 1"""


def inventory_wide_view() -> str:
    """Columns of ``dws_inventory`` (``_loaded_at`` is filled by ClickHouse)."""
    anomaly_checks = ", ".join(
        f"IF(i.{field} < 0, 'negative {field}', CAST(NULL AS STRING))"
        for field in ("qty", "order_lock", "lock_qty", "defective_qty")
    )
    return f"""
CREATE TEMPORARY VIEW inventory_wide AS
SELECT
  i.sku_id,
  i.wms_co_id,
  COALESCE(w.warehouse_name, '') AS warehouse_name,
  COALESCE(w.province, '') AS province,
  i.i_id,
  COALESCE(s.sku_name, i.name) AS sku_name,
  COALESCE(s.category, '') AS category,
  COALESCE(s.brand, '') AS brand,
  COALESCE(s.cost_price, CAST(0 AS DECIMAL(18, 4))) AS cost_price,
  i.qty, i.order_lock, i.pick_lock, i.virtual_qty, i.purchase_qty, i.return_qty,
  i.in_qty, i.defective_qty, i.lock_qty, i.min_qty, i.max_qty,
  i.qty + i.virtual_qty - i.order_lock - i.lock_qty AS available_qty,
  CAST(i.qty * COALESCE(s.cost_price, CAST(0 AS DECIMAL(18, 4))) AS DECIMAL(18, 4))
    AS stock_value,
  COALESCE(CONCAT_WS('; ', {anomaly_checks}), '') AS anomaly_reason,
  CASE WHEN s.sku_id IS NULL THEN 'unknown_sku' ELSE 'ok' END AS dim_status,
  i.modified,
  i.ts,
  DATE_FORMAT(i.kafka_at, 'yyyy-MM-dd HH:mm:ss.SSS') AS kafka_at
FROM inventory_latest AS i
LEFT JOIN sku_latest AS s ON i.sku_id = s.sku_id
LEFT JOIN warehouse_latest AS w ON i.wms_co_id = w.wms_co_id"""


DWS_INVENTORY_COLUMNS = (
    "sku_id", "wms_co_id", "warehouse_name", "province", "i_id", "sku_name", "category",
    "brand", "cost_price", "qty", "order_lock", "pick_lock", "virtual_qty", "purchase_qty",
    "return_qty", "in_qty", "defective_qty", "lock_qty", "min_qty", "max_qty",
    "available_qty", "stock_value", "anomaly_reason", "dim_status", "modified", "ts",
)  # fmt: skip


def inventory_sink_rows() -> str:
    """``(target_table, row_key, payload)`` rows for the ClickHouse sink."""
    return sink_projection(
        "dws_inventory",
        "CONCAT(sku_id, '|', CAST(wms_co_id AS STRING))",
        {
            **{column: column for column in DWS_INVENTORY_COLUMNS},
            "is_anomaly": "IF(anomaly_reason = '', 0, 1)",
            "_version": "ts",
            "_kafka_at": "kafka_at",
        },
        "inventory_wide",
    )
