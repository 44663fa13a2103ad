"""Inventory job: Kafka ``erp.ods.inventory`` -> clean, dedupe, widen -> ClickHouse ``dws_inventory``.

Run with the Flink virtualenv's Python: ``python -m flink_jobs.inventory_job``
(``erpbi up`` and ``erpbi jobs deploy`` do this). Invalid records go to
``erp.dlq.inventory`` with the reason.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from common.settings import Settings, load_settings
from flink_jobs import inventory_sql as sql
from flink_jobs.runtime import build_environment

JOB_NAME = "erpbi-inventory"
LOG = logging.getLogger(__name__)


def build(settings: Settings, restore: bool = True) -> Any:
    """Wire the job graph; returns the StreamExecutionEnvironment ready to execute."""
    from pyflink.common import Types

    from flink_jobs.clickhouse_sink import ClickHouseBatchSink

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
        sql.inventory_wide_view(),
    ):
        table_env.execute_sql(view)

    statements = table_env.create_statement_set()
    statements.add_insert_sql(sql.inventory_dead_letter_insert())
    statements.attach_as_datastream()

    sink_rows = table_env.sql_query(sql.inventory_sink_rows())
    flink = settings.flink
    table_env.to_changelog_stream(sink_rows).key_by(
        lambda row: 0, key_type=Types.INT()
    ).process(
        ClickHouseBatchSink(
            settings.clickhouse,
            flush_interval_ms=flink.flush_interval_ms,
            flush_max_rows=flink.flush_max_rows,
            retry_max_seconds=flink.sink_retry_max_seconds,
        )
    ).name("clickhouse-sink")
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
