"""Kafka tables of the jobs: raw ODS sources and JSON dead-letter sinks.

Sources read each record as a raw string so that nothing is lost to a parse error: the
SQL validates it and routes what is unusable to ``<prefix>.dlq.<stream>`` with a reason.
"""

from __future__ import annotations

from common.settings import Settings


def source_options(stream: str, settings: Settings, group: str, value_format: dict[str, str]) -> str:
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
