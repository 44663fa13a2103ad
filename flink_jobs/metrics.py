"""The pipeline job's figures as Prometheus metrics (``pipeline`` in monitoring/METRICS.md).

Read at each scrape by the monitor process, from outside the job (no PyFlink needed):
- :class:`FlinkCollector`: Flink's REST API -- is the pipeline job running, records in and
  out and back-pressure per vertex, checkpoints, and the ClickHouse sink's own metrics;
- :class:`KafkaLagCollector`: messages on each ODS topic past the job's committed offsets
  (its Kafka sources commit them when a checkpoint completes), and the dead letters of the
  recent window (``flink.status_dead_letter_window_minutes``) per stream and reason.

Each also yields ``erpbi_monitor_source_up{source}`` and never holds a scrape longer than
its ``timeout_seconds`` (``warehouse.freshness_metrics.SourceCollector``). Register them
through ``warehouse.freshness_metrics.MergedCollector``: it asks them in parallel and
exposes that shared family once (a family repeated in one exposition is invalid).
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from common.settings import Settings
from flink_jobs import health
from flink_jobs.specs import FACT_STREAMS, INVENTORY
from warehouse.freshness_metrics import FamilySpecs, SourceCollector, families

log = logging.getLogger(__name__)

# Task metrics of every vertex: records summed over subtasks, back-pressure the worst one.
VERTEX_METRICS = ("numRecordsIn", "numRecordsOut", "backPressuredTimeMsPerSecond")
SINK_METRICS = {  # the ClickHouse sink's own (clickhouse-sink/.../ClickHouseWriter.java)
    "erpbiRowsLanded": "erpbi_flink_sink_rows_landed_total",
    "erpbiRowsDeadLettered": "erpbi_flink_sink_rows_dead_lettered_total",
    "erpbiPendingRows": "erpbi_flink_sink_pending_rows",
    "erpbiInsertRetries": "erpbi_flink_sink_insert_retries_total",
    "erpbiBatchesLanded": "erpbi_flink_sink_batches_total",
    "erpbiLastBatchRows": "erpbi_flink_sink_last_batch_rows",
}
DOCUMENT_STREAMS = frozenset(spec.stream for spec in (INVENTORY, *FACT_STREAMS))
OPERATOR_KINDS = {"rank": "dedupe"}  # ROW_NUMBER() = 1 per key: the latest row of a key
MAX_REASONS_PER_STREAM = 20  # dead-letter reasons past this are counted as "other"
Gauge, Count = GaugeMetricFamily, CounterMetricFamily
FLINK_FAMILIES: FamilySpecs = {
    "erpbi_flink_up": (Gauge, "1 when the erpbi-pipeline job is RUNNING, else 0 (also when "
                       "Flink cannot be read).", ()),
    "erpbi_flink_job_uptime_seconds": (Gauge, "Seconds since the job last switched to "
                                       "RUNNING.", ()),
    "erpbi_flink_records_in_total": (Count, "Records the vertex's tasks read (a source: from "
                                     "Kafka), summed over subtasks.", ("vertex",)),
    "erpbi_flink_records_out_total": (Count, "Records the vertex's tasks emitted, summed over "
                                      "subtasks.", ("vertex",)),
    "erpbi_flink_backpressure_ratio": (Gauge, "Share of the last second the vertex's worst "
                                       "subtask was back-pressured (0..1).", ("vertex",)),
    "erpbi_flink_checkpoints_total": (Count, "Checkpoints of the running job by result.",
                                      ("result",)),
    "erpbi_flink_last_checkpoint_duration_seconds": (Gauge, "End-to-end duration of the "
                                                     "latest completed checkpoint.", ()),
    "erpbi_flink_sink_rows_landed_total": (Count, "Rows the ClickHouse sink inserted.", ()),
    "erpbi_flink_sink_rows_dead_lettered_total": (Count, "Rows ClickHouse refused, sent to "
                                                  "their stream's dead-letter topic.", ()),
    "erpbi_flink_sink_pending_rows": (Gauge, "Rows the sink holds for tables ClickHouse does "
                                      "not take right now.", ()),
    "erpbi_flink_sink_insert_retries_total": (Count, "Inserts that failed and will be "
                                              "retried (ClickHouse away or refusing).", ()),
    "erpbi_flink_sink_batches_total": (Count, "Inserts that landed rows (rows landed / "
                                       "batches = the mean batch size).", ()),
    "erpbi_flink_sink_last_batch_rows": (Gauge, "Rows in the sink's latest landed insert.", ()),
}  # fmt: skip
KAFKA_FAMILIES: FamilySpecs = {
    "erpbi_kafka_consumer_lag_messages": (Gauge, "Messages on the ODS topic past the "
                                          "pipeline job's committed offsets.", ("topic",)),
    "erpbi_dead_letters_recent": (Gauge, "Dead letters appended to the stream's dead-letter "
                                  "topic in the recent window "
                                  "(flink.status_dead_letter_window_minutes).",
                                  ("stream", "reason")),
}  # fmt: skip


def rest_base(settings: Settings) -> str:
    """Flink's REST address: the MiniCluster on loopback, or the cluster's JobManager."""
    return settings.flink.rest_url


def pipeline_group_id(settings: Settings) -> str:
    """The Kafka consumer group of the pipeline job's sources (``pipeline_job.job_sql``)."""
    return f"{settings.kafka.topic_prefix}-flink-pipeline"


# --- Flink ---------------------------------------------------------------------------------


def source_stream(vertex_name: str) -> str | None:
    """``Source: ods_outbound_json[9] -> ...`` (or ``ods_outbound_bytes``) -> ``outbound``
    (None: not a source vertex)."""
    match = re.match(r"Source: (?:ods_)?(\w+?)(?:_json|_bytes)?\[\d+\]", vertex_name)
    return match.group(1) if match else None


def vertex_label(vertex_name: str, upstream: Iterable[str] = ()) -> str:
    """A short, stable name for a vertex of the job graph (its ``[n]`` ids change with the plan).

    Sources keep their table (``source_inventory``, ``source_inventory_json``), sinks say
    what they write (``sink_clickhouse``, ``sink_dead_letters_outbound``); other vertices are
    named by their first operator and the streams they read (``upstream``): the document
    stream when there is one (``join_outbound``), else the dimensions (``dedupe_sku``).
    """
    head = re.sub(r"\[\d+\]", "", vertex_name.split(" -> ", 1)[0]).strip()
    if head.startswith("Source: "):
        return "source_" + head.removeprefix("Source: ").removeprefix("ods_")
    table = head.removeprefix("Sink: ").split(":", 1)[0]
    if table == health.SINK_VERTEX:
        return "sink_clickhouse"
    if table.startswith("dlq_"):
        return "sink_dead_letters_" + table.removeprefix("dlq_")
    kind = re.sub(r"[^a-z].*", "", table.lower()) or "operator"
    kind = OPERATOR_KINDS.get(kind, kind)
    streams = set(upstream)
    part = "_".join(sorted(streams & DOCUMENT_STREAMS) or sorted(streams))
    return f"{kind}_{part}" if part else kind


def vertex_labels(vertices: list[dict[str, Any]], plan: Mapping[str, Any]) -> dict[str, str]:
    """Vertex id -> :func:`vertex_label`, the streams read found by walking the job's plan."""
    inputs = {node["id"]: [edge["id"] for edge in node.get("inputs", [])]
              for node in plan.get("nodes", [])}  # fmt: skip
    own = {vertex["id"]: source_stream(vertex["name"]) for vertex in vertices}
    found: dict[str, frozenset[str]] = {}

    def streams_of(vertex_id: str) -> frozenset[str]:
        if vertex_id not in found:
            found[vertex_id] = frozenset()  # a cycle would stop here (a job graph has none)
            upstream = [streams_of(parent) for parent in inputs.get(vertex_id, [])]
            found[vertex_id] = frozenset(filter(None, [own.get(vertex_id)])).union(*upstream)
        return found[vertex_id]

    return {vertex["id"]: vertex_label(vertex["name"], streams_of(vertex["id"]))
            for vertex in vertices}  # fmt: skip


class FlinkRest:
    """GETs against Flink's REST API, every one of them within one deadline."""

    def __init__(self, base: str, deadline: float) -> None:
        self.base, self.deadline = base, deadline

    def get(self, path: str, **query: str) -> Any:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"Flink REST: out of time before {path}")
        query_text = "?" + urllib.parse.urlencode(query, safe=",[]") if query else ""
        with urllib.request.urlopen(f"{self.base}{path}{query_text}", timeout=left) as answer:
            return json.load(answer)


class FlinkCollector(SourceCollector[dict[str, dict[tuple[str, ...], float]]]):
    """Flink's view of the ``erpbi-pipeline`` job, from its REST API (module docstring)."""

    source = "flink"

    def __init__(self, settings: Settings, *, timeout_seconds: float = 2.0) -> None:
        super().__init__(timeout_seconds)
        self._base = rest_base(settings)
        self._labels: tuple[str, dict[str, str]] = ("", {})  # (job id, vertex id -> label)
        self._operator_ids: dict[tuple[str, str], list[str]] = {}  # (job, vertex) -> ids

    def families(self, reading: Mapping[str, Mapping[tuple[str, ...], float]] | None
                 ) -> Iterator[Metric]:  # fmt: skip
        return families(FLINK_FAMILIES, reading or {"erpbi_flink_up": {(): 0.0}})

    def read(self) -> dict[str, dict[tuple[str, ...], float]]:
        rest = FlinkRest(self._base, time.monotonic() + self._timeout)
        samples: dict[str, dict[tuple[str, ...], float]] = defaultdict(lambda: defaultdict(float))
        jobs = [job for job in rest.get("/jobs/overview").get("jobs", [])
                if job.get("name") == health.JOB_NAME
                and job.get("state") == "RUNNING"]  # fmt: skip
        samples["erpbi_flink_up"][()] = 1.0 if jobs else 0.0
        if not jobs:
            return samples
        job_id = max(jobs, key=lambda job: job.get("start-time", 0))["jid"]
        detail = rest.get(f"/jobs/{job_id}")
        since = detail.get("timestamps", {}).get("RUNNING") or detail.get("start-time", 0)
        samples["erpbi_flink_job_uptime_seconds"][()] = max(0, detail["now"] - since) / 1000
        if self._labels[0] != job_id:
            plan = detail.get("plan") or {}  # the job graph's edges: which streams feed what
            plan = json.loads(plan) if isinstance(plan, str) else plan
            self._labels = (job_id, vertex_labels(detail["vertices"], plan))
            self._operator_ids = {}
        for vertex in detail["vertices"]:
            self._read_vertex(rest, job_id, vertex["id"], self._labels[1][vertex["id"]], samples)
        checkpoints = rest.get(f"/jobs/{job_id}/checkpoints")
        for result in ("completed", "failed"):
            count = checkpoints.get("counts", {}).get(result, 0)
            samples["erpbi_flink_checkpoints_total"][(result,)] = count
        latest = (checkpoints.get("latest") or {}).get("completed")
        if latest:
            duration = latest.get("end_to_end_duration", 0) / 1000
            samples["erpbi_flink_last_checkpoint_duration_seconds"][()] = duration
        return samples

    def _read_vertex(self, rest: FlinkRest, job_id: str, vertex_id: str, label: str,
                     samples: dict[str, dict[tuple[str, ...], float]]) -> None:  # fmt: skip
        path = f"/jobs/{job_id}/vertices/{vertex_id}/subtasks/metrics"
        operator_ids = self._operator_metric_ids(rest, path, (job_id, vertex_id), label)
        answer = rest.get(path, get=",".join([*VERTEX_METRICS, *operator_ids]), agg="sum,max")
        values = {metric["id"]: metric for metric in answer}
        records_in = values.get("numRecordsIn", {}).get("sum", 0.0)
        for metric_id in operator_ids:
            name = metric_id.rsplit(".", 1)[-1]
            if name == "numRecordsIn":  # a source task counts no input: its reader does
                records_in = values.get(metric_id, {}).get("sum", records_in)
            else:
                samples[SINK_METRICS[name]][()] += values.get(metric_id, {}).get("sum", 0.0)
        samples["erpbi_flink_records_in_total"][(label,)] += records_in
        records_out = values.get("numRecordsOut", {}).get("sum", 0.0)
        samples["erpbi_flink_records_out_total"][(label,)] += records_out
        pressure = values.get("backPressuredTimeMsPerSecond", {}).get("max", 0.0) / 1000
        ratios = samples["erpbi_flink_backpressure_ratio"]
        ratios[(label,)] = max(ratios.get((label,), 0.0), min(1.0, pressure))

    def _operator_metric_ids(self, rest: FlinkRest, path: str, key: tuple[str, str],
                             label: str) -> list[str]:  # fmt: skip
        """Operator-scoped ids a vertex needs (``Source__ods_sku[41].numRecordsIn``, the sink's
        ``landing[149]__Writer.erpbiRowsLanded``): listed once per job, kept once found."""
        if not (label.startswith("source_") or label == "sink_clickhouse"):
            return []
        if key not in self._operator_ids:
            available = sorted(metric["id"] for metric in rest.get(path))
            if label == "sink_clickhouse":
                wanted = [i for i in available if i.rsplit(".", 1)[-1] in SINK_METRICS]
            else:
                wanted = [i for i in available
                          if i.startswith("Source")
                          and i.endswith(".numRecordsIn")][:1]  # fmt: skip
            if not wanted:
                return []  # not registered yet (tasks starting): ask again next scrape
            self._operator_ids[key] = wanted
        return self._operator_ids[key]


# --- Kafka ---------------------------------------------------------------------------------


class KafkaClients(NamedTuple):
    """A consumer without a group (it never commits anything) for offsets and dead letters,
    and an admin client for the job's committed offsets."""

    consumer: Any
    admin: Any


def open_kafka_clients(settings: Settings) -> KafkaClients:
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka.bootstrap_servers,
                               "client_id": "erpbi-monitor", "request_timeout_ms": 2000,
                               "bootstrap_timeout_ms": 2000}  # fmt: skip
    consumer = _connected(KafkaConsumer, group_id=None, enable_auto_commit=False,
                          auto_offset_reset="earliest", **options)  # fmt: skip
    try:
        return KafkaClients(consumer, _connected(KafkaAdminClient, **options))
    except Exception:
        consumer.close()
        raise


def _connected(kind: Any, **options: Any) -> Any:
    """``kind(**options)``; if it cannot bootstrap, its network client is closed: kafka-python
    starts that client's IO thread first and would leave it running, one per retry."""
    made: list[Any] = []
    network = kind.DEFAULT_CONFIG["kafka_client"]

    def tracked(**configs: Any) -> Any:
        made.append(network(**configs))
        return made[-1]

    try:
        return kind(kafka_client=tracked, **options)
    except Exception:
        for client in made:
            client.close()
        raise


def dead_letter_reason(value: bytes | None) -> str:
    """A dead letter's reason as a label: the job's validation reasons are a fixed list (the
    item's position dropped); ClickHouse's and the connectors' free texts are summed up."""
    try:
        letter = json.loads(value or b"")
    except (ValueError, TypeError):
        return "unreadable dead letter"
    if not isinstance(letter, dict):
        return "unreadable dead letter"
    stage, reason = str(letter.get("stage") or ""), str(letter.get("reason") or "")
    if stage.startswith("clickhouse."):
        return f"refused by ClickHouse ({stage.removeprefix('clickhouse.')})"
    if stage.startswith("flink."):
        return re.sub(r"\s*\(item \d+\)$", "", reason)[:100] or "invalid record"
    if "source" in letter:  # connectors.models.DeadLetterRecord
        return "fetch failed" if reason.startswith("fetch failed") else "refused by the connector"
    return "other"


class RecentDeadLetters:
    """Dead letters appended within the last window, per (stream, reason), kept up to date:
    the first read starts at the window's start, later reads take only what arrived since,
    counted per minute so that old minutes age out. (``health.recent_dead_letters`` reads
    the whole window at each call: right for ``erpbi status``, too much every 5 s.)"""

    def __init__(self, stream_by_topic: Mapping[str, str], window_seconds: float) -> None:
        self._stream_by_topic = dict(stream_by_topic)
        self._window_ms = int(window_seconds * 1000)
        self._next_offset: dict[Any, int] = {}
        self._per_minute: dict[tuple[str, str], Counter[int]] = {}

    def read(self, consumer: Any, until: float) -> None:
        """Take what arrived since the last read, until the monotonic time ``until``."""
        since_ms = int(time.time() * 1000) - self._window_ms
        partitions = [TopicPartition(topic, p) for topic in self._stream_by_topic
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]  # fmt: skip
        new = [tp for tp in partitions if tp not in self._next_offset]
        if new:
            ends = consumer.end_offsets(new)
            starts = consumer.offsets_for_times({tp: since_ms for tp in new})
            for tp in new:
                self._next_offset[tp] = starts[tp].offset if starts.get(tp) else ends[tp]
        if set(consumer.assignment()) != set(partitions):
            consumer.assign(partitions)
            for tp in partitions:
                consumer.seek(tp, self._next_offset[tp])
        ends = consumer.end_offsets(partitions) if partitions else {}
        behind = {tp for tp in partitions if self._next_offset[tp] < ends[tp]}
        while behind and (left_ms := int((until - time.monotonic()) * 1000)) > 0:
            batch = consumer.poll(timeout_ms=min(left_ms, 300), max_records=2000)
            if not batch:
                break
            for tp, messages in batch.items():
                for message in messages:
                    self._add(self._stream_by_topic[tp.topic], message.value,
                              message.timestamp, since_ms)  # fmt: skip
                    self._next_offset[tp] = message.offset + 1
                if self._next_offset[tp] >= ends.get(tp, 0):
                    behind.discard(tp)

    def _add(self, stream: str, value: bytes | None, timestamp_ms: int, since_ms: int) -> None:
        if timestamp_ms < since_ms:
            return
        reason = dead_letter_reason(value)
        if (stream, reason) not in self._per_minute:
            seen = sum(1 for known, _ in self._per_minute if known == stream)
            reason = reason if seen < MAX_REASONS_PER_STREAM else "other"
        self._per_minute.setdefault((stream, reason), Counter())[timestamp_ms // 60_000] += 1

    def counts(self) -> dict[tuple[str, ...], float]:
        """(stream, reason) -> letters in the window (a reason once seen stays, at 0)."""
        oldest_minute = (int(time.time() * 1000) - self._window_ms) // 60_000
        for minutes in self._per_minute.values():
            for minute in [m for m in minutes if m < oldest_minute]:
                del minutes[minute]
        return {key: float(sum(minutes.values())) for key, minutes in self._per_minute.items()}


class KafkaLagCollector(SourceCollector[dict[str, dict[tuple[str, ...], float]]]):
    """Consumer lag of the pipeline job per ODS topic, and the recent dead letters.

    ``streams``: the ODS streams (``common.streams.ODS_STREAMS``). One pair of clients is
    kept between scrapes; after a failure they are closed, and opened again no sooner than
    ``retry_after_seconds`` later (until then the source is reported down at once).
    """

    source = "kafka"

    def __init__(
        self,
        settings: Settings,
        streams: Iterable[str],
        *,
        timeout_seconds: float = 2.5,
        retry_after_seconds: float = 10.0,
        open_clients: Callable[[], KafkaClients] | None = None,
    ) -> None:
        super().__init__(timeout_seconds, retry_after_seconds)
        kafka, streams = settings.kafka, list(streams)
        self._group = pipeline_group_id(settings)
        self._window = settings.flink.status_dead_letter_window_minutes * 60.0
        self._dead_letter_topics = {kafka.topic("dlq", stream): stream for stream in streams}
        self._ods_topics = [kafka.topic("ods", stream) for stream in streams]
        self._open_clients = open_clients or (lambda: open_kafka_clients(settings))
        self._clients: KafkaClients | None = None
        self._dead_letters = RecentDeadLetters(self._dead_letter_topics, self._window)

    def families(self, reading: Mapping[str, Mapping[tuple[str, ...], float]] | None
                 ) -> Iterator[Metric]:  # fmt: skip
        return families(KAFKA_FAMILIES, reading or {})

    def read(self) -> dict[str, dict[tuple[str, ...], float]]:
        until = time.monotonic() + self._timeout * 0.6  # dead letters: the rest next scrape
        if self._clients is None:
            self._clients = self._open_clients()
            self._dead_letters = RecentDeadLetters(self._dead_letter_topics, self._window)
        try:
            lag = self._lag(self._clients)
            self._dead_letters.read(self._clients.consumer, until)
        except Exception:
            self._close()
            raise
        return {"erpbi_kafka_consumer_lag_messages": {(t,): n for t, n in lag.items()},
                "erpbi_dead_letters_recent": self._dead_letters.counts()}  # fmt: skip

    def _lag(self, clients: KafkaClients) -> dict[str, float]:
        """Per ODS topic: end offsets minus the group's commits (minus the earliest offset
        where the job committed nothing yet: it starts from the earliest)."""
        consumer = clients.consumer
        by_topic = {topic: [TopicPartition(topic, p)
                            for p in sorted(consumer.partitions_for_topic(topic) or ())]
                    for topic in self._ods_topics}  # fmt: skip
        partitions = [tp for tps in by_topic.values() for tp in tps]
        if not partitions:
            return {}
        ends = consumer.end_offsets(partitions)
        offsets = clients.admin.list_group_offsets({self._group: partitions})
        read_up_to = {tp: committed.offset for tp, committed in offsets.get(self._group, {}).items()
                      if committed is not None and committed.offset >= 0}  # fmt: skip
        never = [tp for tp in partitions if tp not in read_up_to]
        if never:
            read_up_to.update(consumer.beginning_offsets(never))
        return {topic: float(sum(max(0, ends[tp] - read_up_to[tp]) for tp in tps))
                for topic, tps in by_topic.items() if tps}  # fmt: skip

    def _close(self) -> None:
        clients, self._clients = self._clients, None
        for client in clients or ():
            try:
                client.close()
            except Exception:  # already broken: nothing more to release
                log.debug("closing a Kafka client failed", exc_info=True)
