"""What `erpbi status` says about the pipeline's landing health."""

from __future__ import annotations

from erpbi.cli import format_pipeline_health
from flink_jobs.health import DeadLetterCount, PipelineHealth, SinkHealth


def test_a_stalled_table_is_degraded_with_its_table_and_error() -> None:
    health = PipelineHealth(
        SinkHealth(True, stalled_tables="dws_inventory: 12 rows waiting since "
                   "2026-12-01T12:00:00Z, 3 attempts, last error HTTP 500: Code: 252. "
                   "Too many parts", pending_rows=12), 60)  # fmt: skip
    assert health.degraded
    line = format_pipeline_health(health).splitlines()[0]
    assert line.split()[:2] == ["pipeline", "degraded"]
    assert "dws_inventory" in line and "Code: 252." in line


def test_rows_refused_by_clickhouse_degrade_and_validation_dead_letters_are_listed() -> None:
    letters = [
        DeadLetterCount("outbound", "flink.outbound", 6, "ts below 0", 0),
        DeadLetterCount("sku", "clickhouse.dim_sku", 1, "HTTP 400: Code: 41.", 0),
    ]
    health = PipelineHealth(SinkHealth(True), 60, letters)
    assert health.degraded and health.warehouse_refused == 1
    text = format_pipeline_health(health)
    assert "1 rows refused by ClickHouse in the last 60 min" in text
    assert "flink.outbound" in text and "Code: 41." in text


def test_validation_dead_letters_alone_are_listed_but_not_degraded() -> None:
    health = PipelineHealth(
        SinkHealth(True), 60, [DeadLetterCount("outbound", "flink.outbound", 2, "x", 0)]
    )
    assert not health.degraded
    assert format_pipeline_health(health).splitlines()[0].split()[:2] == ["pipeline", "ok"]


def test_no_job_answering_is_unknown_not_ok() -> None:
    line = format_pipeline_health(PipelineHealth(SinkHealth(False), 60)).splitlines()[0]
    assert line.split()[:2] == ["pipeline", "unknown"]
