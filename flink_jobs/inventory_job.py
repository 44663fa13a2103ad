"""Inventory job: Kafka ``erp.ods.inventory`` -> clean, dedupe, widen -> ClickHouse ``dws_inventory``.

Run with the Flink virtualenv's Python: ``python -m flink_jobs.inventory_job``
(``erpbi up`` and ``erpbi jobs deploy`` do this). Invalid records go to
``erp.dlq.inventory`` with the reason.
"""

from __future__ import annotations

import argparse
import logging
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from common.settings import Settings, load_settings
from flink_jobs import inventory_sql as sql
from flink_jobs.runtime import build_environment

JOB_NAME = "erpbi-inventory"
SHANGHAI = ZoneInfo("Asia/Shanghai")
LOG = logging.getLogger(__name__)

DWS_INVENTORY_COLUMNS = (
    "sku_id", "wms_co_id", "warehouse_name", "province", "i_id", "sku_name", "category",
    "brand", "cost_price", "qty", "order_lock", "pick_lock", "virtual_qty", "purchase_qty",
    "return_qty", "in_qty", "defective_qty", "lock_qty", "min_qty", "max_qty",
    "available_qty", "stock_value", "is_anomaly", "anomaly_reason", "dim_status",
    "modified", "ts", "_version", "_loaded_at", "_kafka_at",
)  # fmt: skip


def to_dws_inventory_row(row: Any) -> tuple[Any, ...]:
    """One widened Flink row -> a tuple in ``DWS_INVENTORY_COLUMNS`` order."""
    modified = datetime.strptime(row["modified"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    kafka_at = row["kafka_at"]
    if isinstance(kafka_at, datetime) and kafka_at.tzinfo is None:
        kafka_at = kafka_at.replace(tzinfo=SHANGHAI)
    reason = row["anomaly_reason"] or ""
    return (
        row["sku_id"], row["wms_co_id"], row["warehouse_name"], row["province"], row["i_id"],
        row["sku_name"], row["category"], row["brand"], Decimal(row["cost_price"]),
        row["qty"], row["order_lock"], row["pick_lock"], row["virtual_qty"],
        row["purchase_qty"], row["return_qty"], row["in_qty"], row["defective_qty"],
        row["lock_qty"], row["min_qty"], row["max_qty"], row["available_qty"],
        Decimal(row["stock_value"]), 1 if reason else 0, reason, row["dim_status"],
        modified, row["ts"], row["ts"], datetime.now(tz=SHANGHAI), kafka_at,
    )  # fmt: skip


def build(settings: Settings, restore: bool = True) -> Any:
    """Wire the job graph; returns the StreamExecutionEnvironment ready to execute."""
    from pyflink.common import RowKind, Types

    from flink_jobs.clickhouse_sink import ClickHouseBatchSink, SinkTarget

    env, table_env = build_environment(settings, JOB_NAME, restore=restore)
    group = f"{settings.kafka.topic_prefix}-flink-inventory"
    table_env.execute_sql(
        sql.kafka_source("ods_inventory", settings.kafka.topic("ods", "inventory"), settings, group)
    )
    table_env.execute_sql(sql.kafka_source("ods_sku", settings.kafka.topic("ods", "sku"), settings, group))
    table_env.execute_sql(
        sql.kafka_source("ods_warehouse", settings.kafka.topic("ods", "warehouse"), settings, group)
    )
    table_env.execute_sql(sql.dead_letter_sink(settings, "inventory"))
    for view in (
        sql.inventory_parsed_view(),
        sql.sku_latest_view(),
        sql.warehouse_latest_view(),
        sql.inventory_latest_view(),
    ):
        table_env.execute_sql(view)

    statements = table_env.create_statement_set()
    statements.add_insert_sql(sql.inventory_dead_letter_insert())
    statements.attach_as_datastream()

    wide = table_env.sql_query(sql.inventory_wide_query())
    changelog = table_env.to_changelog_stream(wide)
    upserts = changelog.filter(
        lambda row: row.get_row_kind() in (RowKind.INSERT, RowKind.UPDATE_AFTER)
    )
    target = SinkTarget(
        table="dws_inventory",
        columns=DWS_INVENTORY_COLUMNS,
        key_columns=("sku_id", "wms_co_id"),
        convert=to_dws_inventory_row,
    )
    flink = settings.flink
    upserts.key_by(lambda row: 0, key_type=Types.INT()).process(
        ClickHouseBatchSink(
            settings.clickhouse,
            target,
            flush_interval_ms=flink.flush_interval_ms,
            flush_max_rows=flink.flush_max_rows,
            retry_max_seconds=flink.sink_retry_max_seconds,
        )
    ).name("clickhouse-dws_inventory")
    return env


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fresh", action="store_true", help="ignore retained checkpoints")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings()
    env = build(settings, restore=not args.fresh)
    LOG.info("submitting %s to the local Flink MiniCluster", JOB_NAME)
    env.execute(JOB_NAME)


if __name__ == "__main__":
    main()
