"""The Flink pipeline: every ODS stream -> clean, dedupe, widen -> ClickHouse; bad records
-> ``<prefix>.dlq.<stream>``.

One job graph holds every stream so the single-machine default runs one MiniCluster
(one JVM, one Python worker pool) instead of one per stream. Run with the Flink
virtualenv's Python: ``python -m flink_jobs.pipeline_job`` (``erpbi up`` and
``erpbi jobs deploy`` do this; on a cluster, ``flink run -py`` the same file).

Landing tables:
  dws_inventory                       inventory per SKU x warehouse
  dwd_sale_out, dwd_sale_out_item     sales outbound documents and items
  dwd_refund, dwd_refund_item         after-sale documents and items
  dwd_aftersale_received(_item)       after-sale receipts and items
  dim_sku, dim_shop, dim_warehouse    dimensions
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from common.settings import Settings, load_settings
from flink_jobs import dimensions_sql, inventory_sql, keeper
from flink_jobs import sql_builder as build_sql
from flink_jobs.kafka_tables import (
    dead_letter_sink,
    kafka_bytes_source,
    kafka_source,
    landing_sink,
)
from flink_jobs.runtime import build_environment, plan_fingerprint, prepare_job_process
from flink_jobs.specs import FACT_STREAMS, INVENTORY, StreamSpec

JOB_NAME = "erpbi-pipeline"
LOG = logging.getLogger(__name__)
PARSED_STREAMS = (INVENTORY, *FACT_STREAMS)
RAW_STREAMS = dimensions_sql.DIMENSION_STREAMS
META_COLUMNS = ("kafka_at",)


def fact_views(spec: StreamSpec) -> list[str]:
    return [
        build_sql.items_view(spec),
        build_sql.joined_view(spec),
        build_sql.wide_view(spec),
        build_sql.joined_items_view(spec),
        build_sql.item_wide_view(spec),
    ]


def fact_sink_rows(spec: StreamSpec, document_table: str, item_table: str) -> list[str]:
    """Sink rows for a document view and its item view: every view column, plus versions."""
    rows = []
    for view, names, table, key in (
        (f"{spec.stream}_wide", build_sql.wide_columns(spec), document_table, spec.key),
        (f"{spec.stream}_item_wide", build_sql.item_wide_columns(spec), item_table,
         (*spec.key, spec.item_key)),
    ):  # fmt: skip
        columns = {name: name for name in names if name not in META_COLUMNS}
        columns |= {"_version": "ts", "_kafka_at": "kafka_at"}
        key_sql = "CONCAT_WS('|', " + ", ".join(f"CAST({k} AS STRING)" for k in key) + ")"
        rows.append(build_sql.sink_projection(table, key_sql, columns, view))
    return rows


def stream_by_table() -> dict[str, str]:
    """Landing table -> the stream whose dead-letter topic takes the rows ClickHouse refuses."""
    tables = {spec.document_table: spec.stream for spec in PARSED_STREAMS}
    tables |= {spec.item_table: spec.stream for spec in FACT_STREAMS}
    return tables | dimensions_sql.STREAM_BY_TABLE


def job_sql(settings: Settings) -> tuple[list[str], list[str]]:
    """The job as SQL: the table and view definitions, then the INSERTs of one statement set."""
    group = f"{settings.kafka.topic_prefix}-flink-pipeline"
    definitions = [kafka_source(stream, settings, group) for stream in RAW_STREAMS]
    for spec in PARSED_STREAMS:
        definitions += [build_sql.json_source(spec, settings, group),
                        kafka_bytes_source(spec.stream, settings, group),
                        dead_letter_sink(settings, spec.stream)]  # fmt: skip
    definitions += dimensions_sql.views()
    for spec in PARSED_STREAMS:
        definitions += [build_sql.checked_view(spec), build_sql.parsed_view(spec)]
    definitions += [inventory_sql.inventory_latest_view(), inventory_sql.inventory_wide_view()]
    for spec in FACT_STREAMS:
        definitions += fact_views(spec)
    definitions.append(landing_sink(settings, stream_by_table()))
    inserts = [build_sql.dead_letter_insert(spec) for spec in PARSED_STREAMS]
    sink_rows = [inventory_sql.inventory_sink_rows(), *dimensions_sql.sink_rows()]
    for spec in FACT_STREAMS:
        sink_rows += fact_sink_rows(spec, spec.document_table, spec.item_table)
    inserts.append("INSERT INTO landing\n" + "\nUNION ALL\n".join(sink_rows))
    return definitions, inserts


def build(settings: Settings, restore: bool = True) -> Any:
    """Wire the job graph; returns the StatementSet ready to execute as one job.

    Every INSERT (dead letters and landing rows) is in one statement set, so the planner
    reads each Kafka topic once and the whole graph runs in the JVM: no Python operator
    sits on the record path. A retained checkpoint is restored only if it was taken by
    this same graph (``runtime.plan_fingerprint``).
    """
    definitions, inserts = job_sql(settings)
    plan = plan_fingerprint([*definitions, *inserts], settings.flink.state_backend)
    _, table_env = build_environment(settings, JOB_NAME, restore=restore, plan=plan)
    for statement in definitions:
        table_env.execute_sql(statement)
    statements = table_env.create_statement_set()
    for statement in inserts:
        statements.add_insert_sql(statement)
    return statements


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fresh", action="store_true", help="ignore retained checkpoints")
    parser.add_argument(
        "--submit-only", action="store_true",
        help="build and submit the job, then exit (how `flink run` runs this module)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings()
    if settings.flink.mode == "cluster" and not args.submit_only:
        prepare_job_process(settings)  # the temp folder `flink run` locks its ports in
        keeper.keep_submitted(settings, JOB_NAME, lambda: keeper.submit_with_cli(settings))
        return
    statements = build(settings, restore=not args.fresh)
    LOG.info("submitting %s", JOB_NAME)
    result = statements.execute()
    if settings.flink.mode == "local":
        result.wait()  # the MiniCluster lives in this process: keep it until the job ends

if __name__ == "__main__":
    main()
