"""The freshness collector and what the monitor's collectors share
(warehouse/freshness_metrics.py), on fake warehouse clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from common.settings import Settings
from warehouse.freshness_metrics import FreshnessCollector, MergedCollector, source_up_family

pytestmark = pytest.mark.unit


class Answer:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.result_rows = rows


class FakeClient:
    """Answers each query with the next item of ``answers`` (an exception is raised)."""

    def __init__(self, *answers: list[tuple[Any, ...]] | Exception, delay: float = 0) -> None:
        self.answers, self.delay = list(answers), delay
        self.queries: list[str] = []
        self.closed = False

    def query(self, sql: str) -> Answer:
        self.queries.append(sql)
        time.sleep(self.delay)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return Answer(answer)

    def close(self) -> None:
        self.closed = True


def samples_of(collector: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in collector.collect() for s in family.samples}  # fmt: skip


def freshness(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, float]:
    return {dict(labels)["stream"]: value for (name, labels), value in samples.items()
            if name == "erpbi_stream_freshness_seconds"}  # fmt: skip


def test_freshness_is_the_warehouse_now_minus_the_newest_erp_change_per_stream() -> None:
    client = FakeClient([("aftersale", 1800), ("inventory", 4), ("outbound", -3)])
    samples = samples_of(FreshnessCollector(Settings(), open_client=lambda: client))
    # the ERP clock ahead of the warehouse's is not fresher than now
    assert freshness(samples) == {"aftersale": 1800, "inventory": 4, "outbound": 0}
    assert samples[("erpbi_monitor_source_up", (("source", "warehouse"),))] == 1
    (sql,) = client.queries  # as the data_freshness alert compares them, in the warehouse
    assert "FROM serving_freshness" in sql and "dateDiff('second', newest, now())" in sql
    assert "toUnixTimestamp(newest) > 0" in sql  # a stream with nothing landed: no series


def test_a_failed_query_reports_the_warehouse_down_and_the_next_scrape_reconnects() -> None:
    clients = [FakeClient(OSError("connection reset")), FakeClient([("inventory", 12)])]
    opened: list[FakeClient] = []

    def open_client() -> FakeClient:
        opened.append(clients[len(opened)])
        return opened[-1]

    collector = FreshnessCollector(Settings(), open_client=open_client)
    down = samples_of(collector)
    assert down[("erpbi_monitor_source_up", (("source", "warehouse"),))] == 0
    assert freshness(down) == {} and opened[0].closed
    up = samples_of(collector)
    assert up[("erpbi_monitor_source_up", (("source", "warehouse"),))] == 1
    assert freshness(up) == {"inventory": 12}


def test_an_unreachable_warehouse_is_down_without_raising() -> None:
    def refuse() -> Any:
        raise ConnectionRefusedError("nothing listens")

    samples = samples_of(FreshnessCollector(Settings(), open_client=refuse))
    assert samples == {("erpbi_monitor_source_up", (("source", "warehouse"),)): 0}


def test_a_hung_warehouse_holds_a_scrape_no_longer_than_the_timeout() -> None:
    client = FakeClient([("inventory", 1)], [("inventory", 2)], delay=2.0)
    collector = FreshnessCollector(Settings(), open_client=lambda: client, timeout_seconds=0.2)
    started = time.monotonic()
    for _ in range(2):  # the second finds the first read still running: down at once
        samples = samples_of(collector)
        assert samples[("erpbi_monitor_source_up", (("source", "warehouse"),))] == 0
    assert time.monotonic() - started < 1.5
    assert len(client.queries) == 1


class Fixed:
    """A collector whose source answers (or not) after ``delay`` seconds."""

    def __init__(self, source: str, delay: float = 0.0) -> None:
        self.source, self.delay = source, delay

    def collect(self) -> Iterator[Metric]:
        time.sleep(self.delay)
        yield GaugeMetricFamily(f"erpbi_{self.source}_thing", "A figure.", value=1.0)
        yield source_up_family(self.source, True)


class Broken:
    def collect(self) -> Iterator[Metric]:
        raise RuntimeError("a bug")


def test_merged_collectors_expose_the_shared_family_once_as_valid_openmetrics() -> None:
    registry = CollectorRegistry()
    freshness_collector = FreshnessCollector(
        Settings(), open_client=lambda: FakeClient([("inventory", 7)])
    )
    registry.register(MergedCollector([Fixed("flink"), Fixed("kafka"), freshness_collector,
                                       Broken()]))  # fmt: skip
    text = generate_latest(registry).decode()
    assert text.count("# TYPE erpbi_monitor_source_up gauge") == 1
    families = {family.name: family for family in text_string_to_metric_families(text)}
    ups = {s.labels["source"]: s.value for s in families["erpbi_monitor_source_up"].samples}
    assert ups == {"flink": 1, "kafka": 1, "warehouse": 1}
    assert families["erpbi_stream_freshness_seconds"].samples[0].value == 7


def test_merged_collectors_are_asked_in_parallel() -> None:
    merged = MergedCollector([Fixed("flink", 0.4), Fixed("kafka", 0.4), Fixed("other", 0.4)])
    started = time.monotonic()
    names = {family.name for family in merged.collect()}
    assert time.monotonic() - started < 1.0
    assert "erpbi_monitor_source_up" in names and len(names) == 4


def test_registering_asks_no_source() -> None:
    asked = threading.Event()

    def open_client() -> Any:
        asked.set()
        raise OSError("not at registration")

    registry = CollectorRegistry(auto_describe=True)
    registry.register(FreshnessCollector(Settings(), open_client=open_client))
    assert not asked.is_set()
