"""Connector tables of the jobs: raw ODS sources, JSON dead-letter sinks, the landing sink.

Sources read each record as a raw string so that nothing is lost to a parse error: the
SQL validates it and routes what is unusable to ``<prefix>.dlq.<stream>`` with a reason.
"""

from __future__ import annotations

from common.settings import Settings


def source_options(
    stream: str, settings: Settings, group: str, value_format: dict[str, str]
) -> str:
    """The WITH clause of an ODS source (earliest offset on a fresh start; checkpoints after)."""
    options = {
        "connector": "kafka",
        "topic": settings.kafka.topic("ods", stream),
        "properties.bootstrap.servers": settings.kafka.bootstrap_servers,
        "properties.group.id": group,
        "scan.startup.mode": "earliest-offset",
        **value_format,
    }
    return ",\n  ".join(f"'{key}' = '{value}'" for key, value in options.items())


def kafka_source(stream: str, settings: Settings, group: str) -> str:
    raw = {"value.format": "raw", "value.raw.charset": "UTF-8"}
    return f"""
CREATE TABLE ods_{stream} (
  payload STRING,
  kafka_at TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL
) WITH (
  {source_options(stream, settings, group, raw)}
)"""


def dead_letter_sink(settings: Settings, stream: str) -> str:
    topic = settings.kafka.topic("dlq", stream)
    return f"""
CREATE TABLE dlq_{stream} (
  `stream` STRING,
  `stage` STRING,
  `reason` STRING,
  payload STRING,
  failed_at TIMESTAMP_LTZ(3)
) WITH (
  'connector' = 'kafka',
  'topic' = '{topic}',
  'properties.bootstrap.servers' = '{settings.kafka.bootstrap_servers}',
  'format' = 'json',
  'sink.delivery-guarantee' = 'at-least-once'
)"""


def landing_sink(settings: Settings, stream_by_table: dict[str, str], name: str = "landing") -> str:
    """Rows for ClickHouse: the project's ``erpbi-clickhouse`` sink (flink_jobs/clickhouse-sink).

    Each row is ``(target_table, row_key, row_version, payload)``; the sink batches the
    JSONEachRow ``payload`` lines per table, flushing every ``flush_interval_ms`` and
    before each checkpoint. Rows ClickHouse refuses go to the dead-letter topic of their
    table's stream (``stream_by_table``); a table that cannot be written right now is
    retried with backoff while the others go on.
    """
    clickhouse, flink = settings.clickhouse, settings.flink
    streams = ",".join(f"{table}={stream}" for table, stream in sorted(stream_by_table.items()))
    password = clickhouse.password.get_secret_value().replace("'", "''")
    return f"""
CREATE TABLE {name} (
  target_table STRING,
  row_key STRING,
  row_version BIGINT,
  payload STRING
) WITH (
  'connector' = 'erpbi-clickhouse',
  'url' = '{clickhouse.url}',
  'database' = '{clickhouse.database}',
  'username' = '{clickhouse.user}',
  'password' = '{password}',
  'flush-interval' = '{flink.flush_interval_ms}ms',
  'flush-max-rows' = '{flink.flush_max_rows}',
  'retry-max-backoff' = '{int(flink.sink_retry_max_seconds * 1000)}ms',
  'max-pending-rows' = '{flink.sink_max_pending_rows}',
  'dead-letter.bootstrap-servers' = '{settings.kafka.bootstrap_servers}',
  'dead-letter.streams' = '{streams}',
  'dead-letter.topic-pattern' = '{settings.kafka.topic("dlq", "{stream}")}'
)"""
