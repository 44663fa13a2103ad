"""Connector tables of the jobs: raw ODS sources, JSON dead-letter sinks, the landing sink.

Dimension sources read each record as a raw string; a parsed stream's topic is also read
as exact bytes (``kafka_bytes_source``) so that nothing is lost to a parse error: what the
JSON source cannot read (not UTF-8, not a JSON object) is dead-lettered from there with
its bytes, key and position, and what it reads but cannot use is dead-lettered with its
position (``sql_builder.dead_letter_insert``).

A dead letter on ``<prefix>.dlq.<stream>`` is one JSON object: ``stream``, ``stage``,
``reason``, ``payload`` (the record as text: decoded as UTF-8, or rebuilt from its
fields), ``failed_at``, the source ``topic``, ``partition`` and ``offset``, and, base64
encoded, the record's Kafka ``key`` and, when the JSON source could not read it, its
exact ``original`` bytes. ``erpbi dlq`` reads and replays them (``backfill.dead_letters``).
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


KEY_AND_POSITION = (
    "kafka_topic STRING METADATA FROM 'topic' VIRTUAL",
    "kafka_partition INT METADATA FROM 'partition' VIRTUAL",
    "kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL",
)
# The record key as its bytes: a source declaring ``kafka_key BYTES`` takes these options.
RAW_KEY = {"key.format": "raw", "key.fields": "kafka_key", "value.fields-include": "EXCEPT_KEY"}


def kafka_bytes_source(stream: str, settings: Settings, group: str) -> str:
    """Every record of a parsed stream's topic as its exact bytes, key and position."""
    raw = {**RAW_KEY, "value.format": "raw"}
    columns = ",\n  ".join(["kafka_key BYTES", "original BYTES", *KEY_AND_POSITION])
    return f"""
CREATE TABLE ods_{stream}_bytes (
  {columns}
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
  failed_at TIMESTAMP_LTZ(3),
  `topic` STRING,
  `partition` INT,
  `offset` BIGINT,
  `key` BYTES,
  original BYTES
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
    urls = ",".join(clickhouse.urls())  # every warehouse server; the sink fails over in order
    return f"""
CREATE TABLE {name} (
  target_table STRING,
  row_key STRING,
  row_version BIGINT,
  payload STRING
) WITH (
  'connector' = 'erpbi-clickhouse',
  'url' = '{urls}',
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
