"""Is the pipeline landing? What the ClickHouse sink reports, and what its dead-letter topics hold.

Two sources, both outside the job, so ``erpbi status`` can ask them in a second:
- the sink's own metrics, through Flink's REST API (``erpbiStalledTables``: tables ClickHouse
  does not take right now, with the error; ``erpbiPendingRows``; ``erpbiRowsDeadLettered``);
- the dead-letter topics ``<prefix>.dlq.<stream>`` over a recent window: how many records each
  stage refused (``flink.<stream>`` = the job's validation, ``clickhouse.<table>`` = rows the
  warehouse refused), and the latest reason.

The pipeline is **degraded** when a table is stalled or the warehouse refused rows within the
window: rows are missing from what users see until someone acts (fix, then replay).
Records the job's validation refused are listed too: bad ERP data, also worth a look.
Pure standard library + kafka-python: no PyFlink needed to import it.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from common.settings import Settings

JOB_NAME = "erpbi-pipeline"
SINK_VERTEX = "landing"  # the ClickHouse sink's table in the job's SQL (pipeline_job.job_sql)
SINK_METRICS = (
    "erpbiStalledTables",
    "erpbiPendingRows",
    "erpbiRowsDeadLettered",
    "erpbiLastDeadLetter",
)
MAX_LETTERS_READ = 20_000  # per topic and call: the counts say "at least" past this
_READ_TIMEOUT_MS = 2000


@dataclass(frozen=True)
class SinkHealth:
    """What the running sink says about itself (``reachable`` False: no running job answered)."""

    reachable: bool
    stalled_tables: str = ""
    pending_rows: int = 0
    rows_dead_lettered: int = 0
    last_dead_letter: str = ""


@dataclass
class DeadLetterCount:
    stream: str
    stage: str
    count: int = 0
    last_reason: str = ""
    last_at_ms: int = 0


@dataclass
class PipelineHealth:
    sink: SinkHealth
    window_minutes: int
    dead_letters: list[DeadLetterCount] = field(default_factory=list)

    @property
    def warehouse_refused(self) -> int:
        return sum(
            letter.count for letter in self.dead_letters if letter.stage.startswith("clickhouse.")
        )

    @property
    def degraded(self) -> bool:
        return bool(self.sink.stalled_tables) or self.warehouse_refused > 0

    def problems(self) -> list[str]:
        found = []
        if self.sink.stalled_tables:
            found.append(f"not landing: {self.sink.stalled_tables}")
        if self.warehouse_refused:
            found.append(f"{self.warehouse_refused} rows refused by ClickHouse in the last "
                         f"{self.window_minutes} min (dead-lettered)")  # fmt: skip
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": "degraded" if self.degraded else "ok",
            "problems": self.problems(),
            "sink": self.sink.__dict__,
            "window_minutes": self.window_minutes,
            "dead_letters": [letter.__dict__ for letter in self.dead_letters],
        }


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=3) as reply:
        return json.load(reply)


def sink_health(rest_base: str) -> SinkHealth:
    """The sink's metrics from the running pipeline job (summed over its subtasks)."""
    try:
        jobs = _get_json(f"{rest_base}/jobs/overview").get("jobs", [])
        job = next(j for j in jobs if j.get("name") == JOB_NAME and j.get("state") == "RUNNING")
        vertices = _get_json(f"{rest_base}/jobs/{job['jid']}").get("vertices", [])
        values: dict[str, list[str]] = {name: [] for name in SINK_METRICS}
        for vertex in vertices:
            if not vertex.get("name", "").startswith(SINK_VERTEX):
                continue  # only the sink has these metrics: one request, not one per operator
            base = f"{rest_base}/jobs/{job['jid']}/vertices/{vertex['id']}/metrics"
            ids = [m["id"] for m in _get_json(base) if m["id"].rsplit(".", 1)[-1] in values]
            if not ids:
                continue
            for metric in _get_json(f"{base}?get={','.join(ids)}"):
                values[metric["id"].rsplit(".", 1)[-1]].append(str(metric.get("value", "")))
    except (OSError, ValueError, StopIteration, KeyError):
        return SinkHealth(reachable=False)
    return SinkHealth(
        reachable=True,
        stalled_tables="; ".join(v for v in values["erpbiStalledTables"] if v),
        pending_rows=sum(int(float(v)) for v in values["erpbiPendingRows"] if v),
        rows_dead_lettered=sum(int(float(v)) for v in values["erpbiRowsDeadLettered"] if v),
        last_dead_letter="; ".join(v for v in values["erpbiLastDeadLetter"] if v),
    )


def recent_dead_letters(settings: Settings, streams: Iterable[str], window_minutes: int
                        ) -> list[DeadLetterCount]:  # fmt: skip
    """Dead letters appended within the window, counted per stream and stage."""
    since_ms = int((time.time() - window_minutes * 60) * 1000)
    counts: dict[tuple[str, str], DeadLetterCount] = {}
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers, enable_auto_commit=False,
        consumer_timeout_ms=_READ_TIMEOUT_MS, request_timeout_ms=5000,
    )  # fmt: skip
    try:
        for stream in streams:
            _count_topic(consumer, settings.kafka.topic("dlq", stream), stream, since_ms, counts)
    finally:
        consumer.close()
    return sorted(counts.values(), key=lambda letter: (letter.stream, letter.stage))


def _count_topic(consumer: KafkaConsumer, topic: str, stream: str, since_ms: int,
                 counts: dict[tuple[str, str], DeadLetterCount]) -> None:  # fmt: skip
    for message in records_since(consumer, topic, since_ms, MAX_LETTERS_READ):
        _count(message.value, message.timestamp, stream, counts)


def records_since(consumer: KafkaConsumer, topic: str, since_ms: int, limit: int
                  ) -> Iterator[Any]:  # fmt: skip
    """The records of ``topic`` appended since ``since_ms`` (epoch ms), up to ``limit`` per
    partition, as they are now: what is appended meanwhile is not waited for. Each record
    once, in offset order per partition: a fetch the client repeats (a batch fetched again
    after a reconnect, a batch starting before the sought offset) yields nothing twice."""
    partitions = [
        TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
    ]
    if not partitions:
        return
    consumer.assign(partitions)
    starts = consumer.offsets_for_times({tp: since_ms for tp in partitions})
    ends = consumer.end_offsets(partitions)
    next_offset, stop_at = {}, {}
    for tp in partitions:
        start = starts.get(tp)
        if start is None or start.offset >= ends[tp]:
            continue
        consumer.seek(tp, start.offset)
        next_offset[tp] = start.offset
        stop_at[tp] = min(ends[tp], start.offset + limit)
    while next_offset:
        batch = consumer.poll(timeout_ms=_READ_TIMEOUT_MS, max_records=2000)
        if not batch:
            break
        for tp, messages in batch.items():
            for message in messages:
                if tp in next_offset and next_offset[tp] <= message.offset < stop_at[tp]:
                    next_offset[tp] = message.offset + 1
                    yield message
            if tp in next_offset and next_offset[tp] >= stop_at[tp]:
                del next_offset[tp]


def _count(
    value: bytes, timestamp_ms: int, stream: str, counts: dict[tuple[str, str], DeadLetterCount]
) -> None:
    try:
        letter = json.loads(value)
        stage, reason = str(letter.get("stage", "?")), str(letter.get("reason", ""))
    except (ValueError, AttributeError):
        stage, reason = "?", "unreadable dead letter"
    entry = counts.setdefault((stream, stage), DeadLetterCount(stream, stage))
    entry.count += 1
    if timestamp_ms >= entry.last_at_ms:
        entry.last_at_ms, entry.last_reason = timestamp_ms, reason


def pipeline_health(settings: Settings, rest_base: str, streams: Iterable[str]) -> PipelineHealth:
    window = settings.flink.status_dead_letter_window_minutes
    return PipelineHealth(
        sink_health(rest_base), window, recent_dead_letters(settings, streams, window)
    )
