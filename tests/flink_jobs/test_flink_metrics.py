"""The pipeline's Flink and Kafka collectors (flink_jobs/metrics.py) on canned sources.

Flink answers from a local HTTP server shaped on Flink 2.2's REST answers (vertex names as
the real pipeline job names them); Kafka through small fakes of the two clients.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata, OffsetAndTimestamp

from common.settings import Settings
from flink_jobs.metrics import (
    FlinkCollector,
    KafkaClients,
    KafkaLagCollector,
    dead_letter_reason,
    pipeline_group_id,
    vertex_label,
)
from flink_jobs.pipeline_job import job_sql
from testkit.support import free_port

pytestmark = pytest.mark.unit

JOB = "5d1a6c3b0e0f4b5fa1f2b3c4d5e6f708"
NOW = 1_764_750_000_000
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples_of(collector: Any) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in collector.collect() for s in family.samples}  # fmt: skip


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def named(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


# --- a Flink REST API ----------------------------------------------------------------------

# (vertex id, name as Flink 2.2 names the job's vertices, inputs, subtask metrics)
VERTICES: list[tuple[str, str, list[str], list[dict[str, float]]]] = [
    ("a1", "Source: ods_inventory[1] -> Calc[2]", [],
     [{"numRecordsIn": 0, "numRecordsOut": 3, "backPressuredTimeMsPerSecond": 0,
       "Source__ods_inventory[1].numRecordsIn": 500, "Calc[2].numRecordsIn": 500}]),
    ("a2", "Source: ods_inventory_json[3] -> (Calc[4], Calc[37])", [],
     [{"numRecordsIn": 0, "numRecordsOut": 497, "backPressuredTimeMsPerSecond": 120,
       "Source__ods_inventory_json[3].numRecordsIn": 500}]),
    ("a3", "Source: ods_sku[41] -> (Calc[42], Calc[57])", [],
     [{"numRecordsIn": 0, "numRecordsOut": 400, "backPressuredTimeMsPerSecond": 0,
       "Source__ods_sku[41].numRecordsIn": 200}]),
    ("b1", "Rank[39]", ["a2"],
     [{"numRecordsIn": 497, "numRecordsOut": 450, "backPressuredTimeMsPerSecond": 0}]),
    ("b2", "Rank[44] -> Calc[45]", ["a3"],
     [{"numRecordsIn": 200, "numRecordsOut": 150, "backPressuredTimeMsPerSecond": 40}]),
    ("b3", "Rank[59] -> Calc[60]", ["a3"],
     [{"numRecordsIn": 200, "numRecordsOut": 190, "backPressuredTimeMsPerSecond": 900}]),
    ("c1", "Join[47]", ["b1", "b3"],
     [{"numRecordsIn": 300, "numRecordsOut": 280, "backPressuredTimeMsPerSecond": 250},
      {"numRecordsIn": 340, "numRecordsOut": 300, "backPressuredTimeMsPerSecond": 500}]),
    ("d1", "dlq_inventory[6]: Writer -> dlq_inventory[6]: Committer", ["a1", "a2"],
     [{"numRecordsIn": 3, "numRecordsOut": 0, "backPressuredTimeMsPerSecond": 0}]),
    ("e1", "landing[149]: Writer", ["b2", "c1"],
     [{"numRecordsIn": 610, "numRecordsOut": 0, "backPressuredTimeMsPerSecond": 0,
       "landing[149]__Writer.erpbiRowsLanded": 400, "landing[149]__Writer.erpbiRowsDeadLettered": 2,
       "landing[149]__Writer.erpbiPendingRows": 7, "landing[149]__Writer.numRecordsIn": 305},
      {"numRecordsIn": 0, "numRecordsOut": 0, "backPressuredTimeMsPerSecond": 0,
       "landing[149]__Writer.erpbiRowsLanded": 200, "landing[149]__Writer.erpbiRowsDeadLettered": 1,
       "landing[149]__Writer.erpbiPendingRows": 3, "landing[149]__Writer.numRecordsIn": 305}]),
]  # fmt: skip


def overview(*jobs: tuple[str, str]) -> dict[str, Any]:
    tasks = {"running": 9, "canceling": 0, "canceled": 0, "total": 9, "created": 0,
             "scheduled": 0, "deploying": 0, "reconciling": 0, "finished": 0,
             "initializing": 0, "failed": 0}  # fmt: skip
    return {"jobs": [{"jid": jid, "name": "erpbi-pipeline", "start-time": NOW - 600_000,
                      "end-time": -1, "duration": 600_000, "state": state,
                      "last-modification": NOW - 300_000, "tasks": tasks, "pending-operators": 0}
                     for jid, state in jobs]}  # fmt: skip


def job_detail() -> dict[str, Any]:
    vertices = [{"id": vid, "slotSharingGroupId": "ffff", "name": name, "maxParallelism": 128,
                 "parallelism": len(subtasks), "status": "RUNNING", "start-time": NOW - 300_000,
                 "end-time": -1, "duration": 300_000, "tasks": {"RUNNING": len(subtasks)},
                 "metrics": {"read-bytes": 0, "read-bytes-complete": True, "write-bytes": 0,
                             "write-bytes-complete": True, "read-records": 0,
                             "read-records-complete": True, "write-records": 0,
                             "write-records-complete": True, "accumulated-backpressured-time": 0,
                             "accumulated-idle-time": 0, "accumulated-busy-time": 0.0}}
                for vid, name, _, subtasks in VERTICES]  # fmt: skip
    nodes = [{"id": vid, "parallelism": len(subtasks), "operator": "", "operator_strategy": "",
              "description": name, "optimizer_properties": {},
              **({"inputs": [{"num": n, "id": parent, "ship_strategy": "HASH",
                              "exchange": "pipelined_bounded"} for n, parent in enumerate(inputs)]}
                 if inputs else {})}
             for vid, name, inputs, subtasks in VERTICES]  # fmt: skip
    return {"jid": JOB, "name": "erpbi-pipeline", "isStoppable": False, "state": "RUNNING",
            "job-type": "STREAMING", "start-time": NOW - 600_000, "end-time": -1,
            "duration": 600_000, "maxParallelism": -1, "now": NOW,
            "timestamps": {"CREATED": NOW - 600_100, "RUNNING": NOW - 300_000, "FAILING": 0,
                           "RESTARTING": NOW - 300_500, "FAILED": 0, "CANCELLING": 0,
                           "CANCELED": 0, "FINISHED": 0, "SUSPENDED": 0, "RECONCILING": 0,
                           "INITIALIZING": NOW - 600_050},
            "vertices": vertices, "status-counts": {"RUNNING": len(vertices)},
            "plan": {"jid": JOB, "name": "erpbi-pipeline", "type": "STREAMING", "nodes": nodes},
            "pending-operators": 0}  # fmt: skip


CHECKPOINTS = {
    "counts": {"restored": 1, "total": 12, "in_progress": 1, "completed": 10, "failed": 1},
    "summary": {},
    "latest": {
        "completed": {"className": "completed", "id": 11, "status": "COMPLETED",
                      "is_savepoint": False, "savepointFormat": None,
                      "trigger_timestamp": NOW - 4000, "latest_ack_timestamp": NOW - 2766,
                      "checkpointed_size": 5120, "state_size": 81920, "end_to_end_duration": 1234,
                      "alignment_buffered": 0, "processed_data": 0, "persisted_data": 0,
                      "num_subtasks": 11, "num_acknowledged_subtasks": 11,
                      "checkpoint_type": "CHECKPOINT", "tasks": {},
                      "external_path": "file:/tmp/chk-11", "discarded": False},
        "savepoint": None, "failed": None, "restored": None,
    },
    "history": [],
}  # fmt: skip


def subtask_metrics(subtasks: list[dict[str, float]]) -> Callable[[dict[str, list[str]]], Any]:
    """Flink's aggregated subtask metrics: the ids without ``get``, else the asked ids
    (unknown ones left out) with the asked aggregations."""

    def answer(query: dict[str, list[str]]) -> Any:
        ids = sorted({metric for subtask in subtasks for metric in subtask})
        if "get" not in query:
            return [{"id": metric} for metric in ids]
        aggregations: dict[str, Callable[[list[float]], float]] = {"sum": sum, "max": max}
        return [{"id": metric, **{agg: float(aggregations[agg]([s[metric] for s in subtasks]))
                                  for agg in query["agg"][0].split(",")}}
                for metric in query["get"][0].split(",") if metric in ids]  # fmt: skip

    return answer


class FakeFlink:
    """A REST server answering the routes it is given; anything else is a 404 and recorded."""

    def __init__(self, routes: dict[str, Any], delay: float = 0.0) -> None:
        self.routes, self.delay = routes, delay
        self.requested: list[str] = []
        self.unexpected: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                time.sleep(fake.delay)
                url = urlsplit(self.path)
                fake.requested.append(self.path)
                route: Any = fake.routes.get(url.path)
                if route is None:
                    fake.unexpected.append(self.path)
                    self.send_error(404)
                    return
                body = route(parse_qs(url.query)) if callable(route) else route
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def uncalled(self) -> set[str]:
        return set(self.routes) - {urlsplit(path).path for path in self.requested}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def flink_settings(port: int) -> Settings:
    return Settings(flink={"rest_port": port, "jobmanager_address": f"127.0.0.1:{port}"})  # type: ignore[arg-type]


@pytest.fixture
def running_job() -> Iterator[FakeFlink]:
    routes: dict[str, Any] = {"/jobs/overview": overview(("0" * 32, "CANCELED"), (JOB, "RUNNING")),
                              f"/jobs/{JOB}": job_detail(),
                              f"/jobs/{JOB}/checkpoints": CHECKPOINTS}  # fmt: skip
    for vid, _, _, subtasks in VERTICES:
        routes[f"/jobs/{JOB}/vertices/{vid}/subtasks/metrics"] = subtask_metrics(subtasks)
    fake = FakeFlink(routes)
    yield fake
    fake.close()


def test_a_running_job_gives_every_family_with_stable_vertex_names(running_job: FakeFlink) -> None:
    samples = samples_of(FlinkCollector(flink_settings(running_job.port)))

    assert not running_job.unexpected and not running_job.uncalled()
    assert value(samples, "erpbi_flink_up") == 1
    assert value(samples, "erpbi_monitor_source_up", source="flink") == 1
    assert value(samples, "erpbi_flink_job_uptime_seconds") == 300  # since it last ran
    records_in = {dict(labels)["vertex"]: v
                  for labels, v in named(samples, "erpbi_flink_records_in_total").items()
                  }  # fmt: skip
    assert records_in == {
        "source_inventory": 500, "source_inventory_json": 500, "source_sku": 200,  # from Kafka
        "dedupe_inventory": 497, "dedupe_sku": 400, "join_inventory": 640,
        "sink_dead_letters_inventory": 3, "sink_clickhouse": 610,
    }  # fmt: skip
    assert value(samples, "erpbi_flink_records_out_total", vertex="dedupe_sku") == 340
    assert value(samples, "erpbi_flink_records_out_total", vertex="source_inventory_json") == 497
    assert value(samples, "erpbi_flink_backpressure_ratio", vertex="dedupe_sku") == 0.9
    assert value(samples, "erpbi_flink_backpressure_ratio", vertex="join_inventory") == 0.5
    assert value(samples, "erpbi_flink_backpressure_ratio", vertex="source_inventory_json") == 0.12
    assert value(samples, "erpbi_flink_checkpoints_total", result="completed") == 10
    assert value(samples, "erpbi_flink_checkpoints_total", result="failed") == 1
    assert value(samples, "erpbi_flink_last_checkpoint_duration_seconds") == 1.234
    assert value(samples, "erpbi_flink_sink_rows_landed_total") == 600
    assert value(samples, "erpbi_flink_sink_rows_dead_lettered_total") == 3
    assert value(samples, "erpbi_flink_sink_pending_rows") == 10


def test_operator_metric_ids_are_listed_once_per_job(running_job: FakeFlink) -> None:
    collector = FlinkCollector(flink_settings(running_job.port))
    samples_of(collector)
    samples_of(collector)
    listings = [path for path in running_job.requested
                if path.endswith("/subtasks/metrics")]  # fmt: skip
    assert sorted(listings) == sorted(
        f"/jobs/{JOB}/vertices/{vid}/subtasks/metrics" for vid in ("a1", "a2", "a3", "e1")
    )
    asked = [parse_qs(urlsplit(path).query) for path in running_job.requested if "?get=" in path]
    assert all(query["agg"] == ["sum,max"] for query in asked)
    assert "landing[149]__Writer.erpbiRowsLanded" in ",".join(q["get"][0] for q in asked)


def test_no_running_pipeline_job_is_down_but_flink_is_readable() -> None:
    fake = FakeFlink({"/jobs/overview": overview((JOB, "CANCELED"))})
    try:
        samples = samples_of(FlinkCollector(flink_settings(fake.port)))
    finally:
        fake.close()
    assert value(samples, "erpbi_flink_up") == 0
    assert value(samples, "erpbi_monitor_source_up", source="flink") == 1
    assert not named(samples, "erpbi_flink_records_in_total")
    assert fake.requested == ["/jobs/overview"]


def test_a_closed_rest_port_is_down_without_raising() -> None:
    started = time.monotonic()
    samples = samples_of(FlinkCollector(flink_settings(free_port())))
    assert time.monotonic() - started < 3
    assert value(samples, "erpbi_flink_up") == 0
    assert value(samples, "erpbi_monitor_source_up", source="flink") == 0
    assert len(named(samples, "erpbi_monitor_source_up")) == 1


def test_a_slow_rest_api_holds_a_scrape_no_longer_than_the_timeout() -> None:
    fake = FakeFlink({"/jobs/overview": overview((JOB, "CANCELED"))}, delay=1.5)
    collector = FlinkCollector(flink_settings(fake.port), timeout_seconds=0.3)
    try:
        for _ in range(2):
            started = time.monotonic()
            samples = samples_of(collector)
            assert time.monotonic() - started < 1
            assert value(samples, "erpbi_flink_up") == 0
            assert value(samples, "erpbi_monitor_source_up", source="flink") == 0
    finally:
        fake.close()


@pytest.mark.parametrize(
    ("name", "upstream", "label"),
    [
        ("Source: ods_warehouse[49] -> (Calc[50], Calc[77])", {"warehouse"}, "source_warehouse"),
        ("Source: ods_refund_json[19] -> (Calc[20], Calc[22] -> Correlate[23] -> Calc[24], "
         "Calc[113])", {"refund"}, "source_refund_json"),
        ("landing[149]: Writer", {"outbound", "sku"}, "sink_clickhouse"),
        ("Sink: landing[40]", set(), "sink_clickhouse"),
        ("dlq_aftersale_received[36]: Writer -> dlq_aftersale_received[36]: Committer",
         {"aftersale_received"}, "sink_dead_letters_aftersale_received"),
        ("Rank[91] -> Calc[92]", {"shop_sheet"}, "dedupe_shop_sheet"),
        ("Join[141] -> Calc[142] -> Correlate[143] -> Calc[144]",
         {"outbound", "shop", "shop_sheet", "sku", "warehouse"}, "join_outbound"),
        ("Join[97]", {"shop", "shop_sheet"}, "join_shop_shop_sheet"),
        ("GroupAggregate[7]", set(), "groupaggregate"),
    ],
)  # fmt: skip
def test_vertex_labels_drop_plan_ids_and_name_the_stream(
    name: str, upstream: set[str], label: str
) -> None:
    assert vertex_label(name, upstream) == label


def test_the_consumer_group_is_the_one_the_job_commits() -> None:
    definitions, _ = job_sql(Settings())
    groups = set(re.findall(r"'properties\.group\.id' = '([^']+)'", "\n".join(definitions)))
    assert groups == {pipeline_group_id(Settings())}


# --- Kafka -----------------------------------------------------------------------------------


class Letter:
    def __init__(self, offset: int, timestamp: int, value: bytes) -> None:
        self.offset, self.timestamp, self.value = offset, timestamp, value


class FakeConsumer:
    """Topics -> partitions -> (first offset, messages); offsets as kafka-python gives them."""

    def __init__(self, topics: dict[str, dict[int, tuple[int, list[Letter]]]]) -> None:
        self.topics = topics
        self.assigned: list[TopicPartition] = []
        self.position: dict[TopicPartition, int] = {}
        self.polled = 0
        self.closed = False

    def _log(self, tp: TopicPartition) -> tuple[int, list[Letter]]:
        return self.topics[tp.topic][tp.partition]

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(self.topics.get(topic, {}))

    def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self._log(tp)[0] + len(self._log(tp)[1]) for tp in partitions}

    def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self._log(tp)[0] for tp in partitions}

    def offsets_for_times(self, times: dict[TopicPartition, int]) -> dict[TopicPartition, Any]:
        found = {}
        for tp, since in times.items():
            later = [m for m in self._log(tp)[1] if m.timestamp >= since]
            found[tp] = (
                OffsetAndTimestamp(later[0].offset, later[0].timestamp, -1) if later else None
            )
        return found

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = list(partitions)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position[tp] = offset

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        self.polled += 1
        batch = {}
        for tp in self.assigned:
            first, messages = self._log(tp)
            fresh = messages[self.position[tp] - first :]
            if fresh:
                batch[tp] = fresh
                self.position[tp] = fresh[-1].offset + 1
        return batch

    def close(self) -> None:
        self.closed = True


class FakeAdmin:
    def __init__(self, committed: dict[TopicPartition, int]) -> None:
        self.committed = committed
        self.asked: list[str] = []
        self.closed = False

    def list_group_offsets(self, specs: dict[str, list[TopicPartition]]) -> dict[str, Any]:
        ((group, partitions),) = specs.items()
        self.asked.append(group)
        return {group: {tp: OffsetAndMetadata(self.committed.get(tp, -1), "", -1)
                        for tp in partitions}}  # fmt: skip

    def close(self) -> None:
        self.closed = True


def letters(first: int, *items: tuple[float, dict[str, Any] | bytes]) -> tuple[int, list[Letter]]:
    now_ms = int(time.time() * 1000)
    return first, [Letter(first + n, now_ms - int(age * 1000),
                          item if isinstance(item, bytes) else json.dumps(item).encode())
                   for n, (age, item) in enumerate(items)]  # fmt: skip


def ods(first: int, count: int) -> tuple[int, list[Letter]]:
    return first, [Letter(first + n, 0, b"{}") for n in range(count)]


def kafka_collector(consumer: FakeConsumer, admin: FakeAdmin) -> KafkaLagCollector:
    return KafkaLagCollector(Settings(), ["inventory", "outbound", "sku"],
                             open_clients=lambda: KafkaClients(consumer, admin))  # fmt: skip


def test_lag_is_end_offsets_minus_the_jobs_commits_summed_over_partitions() -> None:
    consumer = FakeConsumer({
        "erp.ods.inventory": {0: ods(0, 100), 1: ods(10, 40)},  # partition 1: nothing committed
        "erp.ods.sku": {0: ods(0, 5)},  # erp.ods.outbound not created yet: no series
    })  # fmt: skip
    admin = FakeAdmin({TopicPartition("erp.ods.inventory", 0): 90,
                       TopicPartition("erp.ods.sku", 0): 5})  # fmt: skip
    samples = samples_of(kafka_collector(consumer, admin))
    assert named(samples, "erpbi_kafka_consumer_lag_messages") == {
        (("topic", "erp.ods.inventory"),): 10 + 40,
        (("topic", "erp.ods.sku"),): 0,
    }
    assert admin.asked == ["erp-flink-pipeline"]
    assert value(samples, "erpbi_monitor_source_up", source="kafka") == 1


def test_recent_dead_letters_are_counted_per_stream_and_reason_then_only_new_ones_read() -> None:
    window = Settings().flink.status_dead_letter_window_minutes * 60
    consumer = FakeConsumer({
        "erp.dlq.outbound": {0: letters(
            7,
            (window + 60, {"stage": "flink.outbound", "reason": "missing io_id"}),  # too old
            (30, {"stage": "flink.outbound", "reason": "missing io_id"}),
            (20, {"stage": "flink.outbound.items", "reason": "item: missing sku_id (item 3)"}),
            (10, {"stage": "flink.outbound.items", "reason": "item: missing sku_id (item 12)"}),
            (5, {"stage": "clickhouse.dwd_sale_out", "reason": "HTTP 400: Code: 27. row 5"}),
        )},
        "erp.dlq.sku": {0: letters(0, (3, b"\x00not json"),
                                   (2, {"stream": "sku", "source": "jushuitan",
                                        "reason": "sku_id: Field required", "raw": {}}))},
    })  # fmt: skip
    collector = kafka_collector(consumer, FakeAdmin({}))
    first = named(samples_of(collector), "erpbi_dead_letters_recent")
    assert first == {
        (("reason", "missing io_id"), ("stream", "outbound")): 1,
        (("reason", "item: missing sku_id"), ("stream", "outbound")): 2,
        (("reason", "refused by ClickHouse (dwd_sale_out)"), ("stream", "outbound")): 1,
        (("reason", "unreadable dead letter"), ("stream", "sku")): 1,
        (("reason", "refused by the connector"), ("stream", "sku")): 1,
    }
    polled = consumer.polled
    new_letter = b'{"stage": "flink.outbound", "reason": "missing io_id"}'
    consumer.topics["erp.dlq.outbound"][0][1].append(
        Letter(13, int(time.time() * 1000), new_letter)
    )
    second = named(samples_of(collector), "erpbi_dead_letters_recent")
    assert second[(("reason", "missing io_id"), ("stream", "outbound"))] == 2
    assert sum(second.values()) == sum(first.values()) + 1  # nothing read twice
    assert consumer.polled == polled + 1


def test_dead_letter_reasons_are_few_and_fixed() -> None:
    assert dead_letter_reason(b'{"stage": "flink.refund", "reason": "refund overflows '
                              b'dwd_refund.refund Decimal(18, 2) (|value| < 1e16)"}') == (
        "refund overflows dwd_refund.refund Decimal(18, 2) (|value| < 1e16)"
    )  # fmt: skip
    parked = b'{"source": "jushuitan", "reason": "fetch failed, window parked for retry: x"}'
    assert dead_letter_reason(parked) == "fetch failed"
    assert dead_letter_reason(b"[1, 2]") == "unreadable dead letter"
    assert dead_letter_reason(None) == "unreadable dead letter"


def test_kafka_down_is_reported_and_not_asked_again_before_the_retry_time() -> None:
    opened: list[int] = []

    def broken() -> KafkaClients:
        opened.append(1)
        raise OSError("connection refused")

    collector = KafkaLagCollector(Settings(), ["inventory"], open_clients=broken,
                                  retry_after_seconds=60)  # fmt: skip
    for _ in range(2):
        samples = samples_of(collector)
        assert value(samples, "erpbi_monitor_source_up", source="kafka") == 0
        assert not named(samples, "erpbi_kafka_consumer_lag_messages")
    assert len(opened) == 1


def test_a_failed_read_closes_the_clients_and_the_next_scrape_reconnects() -> None:
    clients: list[KafkaClients] = []

    def open_clients() -> KafkaClients:
        consumer = FakeConsumer({"erp.ods.inventory": {0: ods(0, 3)}})
        if not clients:
            consumer.end_offsets = lambda partitions: (_ for _ in ()).throw(OSError("gone"))  # type: ignore[method-assign]
        clients.append(KafkaClients(consumer, FakeAdmin({})))
        return clients[-1]

    collector = KafkaLagCollector(Settings(), ["inventory"], open_clients=open_clients,
                                  retry_after_seconds=0)  # fmt: skip
    assert value(samples_of(collector), "erpbi_monitor_source_up", source="kafka") == 0
    assert clients[0].consumer.closed and clients[0].admin.closed
    samples = samples_of(collector)
    assert value(samples, "erpbi_monitor_source_up", source="kafka") == 1
    assert value(samples, "erpbi_kafka_consumer_lag_messages", topic="erp.ods.inventory") == 3
    assert len(clients) == 2
