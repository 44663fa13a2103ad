"""Exactness after failures: the Flink job killed mid-stream, ClickHouse away for 30 s, one
table answering HTTP 500 (too many parts) across a kill, the Kafka broker restarted.
Afterwards every key holds exactly its latest version in the deduplicated view: nothing
lost, nothing duplicated."""

from __future__ import annotations

import json
import random
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_fault_proxy import FaultProxy
from flink_support import poll
from kafka import KafkaProducer
from test_fact_streams import outbound

from common.settings import Settings
from erpbi import stack
from erpbi.services import by_name

pytestmark = pytest.mark.integration


class VersionedFeed:
    """Inventory versions for a block of keys, sent in shuffled order; knows the latest."""

    def __init__(self, settings: Settings, wms_co_id: int, keys: int, seed: int) -> None:
        self.settings = settings
        self.wms_co_id = wms_co_id
        self.keys = keys
        self.random = random.Random(seed)
        self.latest: dict[str, tuple[int, int]] = {}
        self.next_ts = 1
        self.producer = KafkaProducer(
            bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", retries=20,
            linger_ms=10, max_block_ms=120000,
        )  # fmt: skip

    def send_round(self, versions_per_key: int = 2) -> None:
        batch = []
        for key_index in range(self.keys):
            sku_id = f"FAIL-{self.wms_co_id}-{key_index:05d}"
            for _ in range(versions_per_key):
                ts, qty = self.next_ts, self.random.randint(0, 999)
                self.next_ts += 1
                batch.append((sku_id, ts, qty))
        self.random.shuffle(batch)
        for sku_id, ts, qty in batch:
            if ts > self.latest.get(sku_id, (0, 0))[0]:
                self.latest[sku_id] = (ts, qty)
            record = {
                "sku_id": sku_id,
                "wms_co_id": self.wms_co_id,
                "qty": qty,
                "ts": ts,
                "modified": "2026-11-22 12:00:00",
            }
            key = {"sku_id": sku_id, "wms_co_id": self.wms_co_id}
            self.producer.send(
                self.settings.kafka.topic("ods", "inventory"),
                key=json.dumps(key).encode(),
                value=json.dumps(record).encode(),
            )
        self.producer.flush(timeout=120)

    def landed(self, warehouse: Client) -> dict[str, tuple[int, int]]:
        result = warehouse.query(
            "SELECT sku_id, ts, qty FROM dws_inventory FINAL WHERE wms_co_id = {w:Int64}",
            parameters={"w": self.wms_co_id},
        )
        return {sku: (int(ts), int(qty)) for sku, ts, qty in result.result_rows}

    def exact(self, warehouse: Client) -> bool:
        return self.landed(warehouse) == self.latest

    def difference(self, warehouse: Client) -> str:
        """What differs, for the failure message: missing keys and keys on an older version."""
        landed = self.landed(warehouse)
        missing = [key for key in self.latest if key not in landed]
        stale = [key for key in self.latest if key in landed and landed[key] != self.latest[key]]
        extra = [key for key in landed if key not in self.latest]
        sample = [(key, landed[key], self.latest[key]) for key in stale[:3]]
        return (
            f"{len(missing)} missing, {len(stale)} stale {sample}, {len(extra)} unexpected "
            f"of {len(self.latest)} keys"
        )

    def duplicates(self, warehouse: Client) -> int:
        return int(warehouse.query(
            "SELECT count() - uniqExact(sku_id) FROM dws_inventory FINAL "
            "WHERE wms_co_id = {w:Int64}",
            parameters={"w": self.wms_co_id},
        ).result_rows[0][0])  # fmt: skip

    def close(self) -> None:
        self.producer.close()


@pytest.fixture
def feed(request: pytest.FixtureRequest, job_settings: Settings) -> Iterator[VersionedFeed]:
    wms = 9100 + request.node.function.__code__.co_firstlineno % 97
    feed = VersionedFeed(job_settings, wms, keys=3000, seed=wms)
    yield feed
    feed.close()


def test_flink_job_killed_mid_stream_restarts_exactly(
    feed: VersionedFeed, job_settings: Settings, pipeline_settings: Settings, warehouse: Client
) -> None:
    feed.send_round()
    assert poll(lambda: len(feed.landed(warehouse)) >= 300, 120), "nothing landed before the kill"
    job = stack.process_for(job_settings, by_name("flink-pipeline"))
    job.kill()
    feed.send_round()
    stack.start_service(pipeline_settings, by_name("flink-pipeline"), report=lambda line: None)
    assert poll(lambda: feed.exact(warehouse), 180), feed.difference(warehouse)
    assert feed.duplicates(warehouse) == 0


def test_clickhouse_away_for_30_seconds_loses_and_duplicates_nothing(
    feed: VersionedFeed, job_settings: Settings, warehouse: Client
) -> None:
    feed.send_round()
    stack.down(job_settings, ["clickhouse"], report=lambda line: None)
    away_since = time.monotonic()
    feed.send_round()
    while time.monotonic() - away_since < 30:  # the outage itself, not a readiness wait
        time.sleep(1)
    stack.start_service(job_settings, by_name("clickhouse"), report=lambda line: None)
    assert poll(lambda: feed.exact(warehouse), 180), feed.difference(warehouse)
    assert feed.duplicates(warehouse) == 0


def test_kafka_broker_restart_loses_and_duplicates_nothing(
    feed: VersionedFeed, job_settings: Settings, warehouse: Client
) -> None:
    feed.send_round()
    stack.down(job_settings, ["kafka"], report=lambda line: None)
    stack.start_service(job_settings, by_name("kafka"), report=lambda line: None)
    feed.send_round()
    assert poll(lambda: feed.exact(warehouse), 240), feed.difference(warehouse)
    assert feed.duplicates(warehouse) == 0


def completed_checkpoints(settings: Settings) -> int:
    from erpbi.jobs import list_jobs, rest_base

    (job,) = [j for j in list_jobs(settings) if j.get("state") == "RUNNING"]
    with urllib.request.urlopen(
        f"{rest_base(settings)}/jobs/{job['jid']}/checkpoints", timeout=5
    ) as reply:
        return int(json.load(reply)["counts"]["completed"])


def test_a_table_answering_5xx_holds_back_no_other_table_and_loses_nothing_across_a_kill(
    feed: VersionedFeed,
    job_settings: Settings,
    pipeline_settings: Settings,
    warehouse: Client,
    producer: Any,
    clickhouse_proxy: FaultProxy,
) -> None:
    """ClickHouse answers every insert into dws_inventory with TOO_MANY_PARTS (HTTP 500) while
    outbound documents keep landing; checkpoints keep completing with the waiting rows in
    them, so a kill -9 during the refusal loses nothing once the table takes inserts again."""
    from erpbi.jobs import rest_base
    from flink_jobs.health import sink_health

    feed.send_round()
    assert poll(lambda: feed.exact(warehouse), 180), feed.difference(warehouse)
    with clickhouse_proxy.refusing("dws_inventory"):
        feed.send_round()
        stalled = poll(lambda: sink_health(rest_base(job_settings)).stalled_tables, 60)
        assert "dws_inventory" in stalled and "HTTP 500" in stalled and "Code: 252." in stalled, (
            stalled
        )
        producer("outbound", outbound("IO-WHILE-INVENTORY-STALLS", ts=3))
        assert poll(
            lambda: (
                warehouse.query(
                    "SELECT 1 FROM dwd_sale_out WHERE io_id = 'IO-WHILE-INVENTORY-STALLS'"
                ).result_rows
            ),
            60,
        )
        before = completed_checkpoints(job_settings)
        assert poll(lambda: completed_checkpoints(job_settings) >= before + 2, 60), (
            "checkpoints stopped while one table was refused"
        )
        assert not feed.exact(warehouse), "the refused table took the new versions anyway"
        stack.process_for(job_settings, by_name("flink-pipeline")).kill()
    stack.start_service(pipeline_settings, by_name("flink-pipeline"), report=lambda line: None)
    assert poll(lambda: feed.exact(warehouse), 180), feed.difference(warehouse)
    assert feed.duplicates(warehouse) == 0
    assert not sink_health(rest_base(job_settings)).stalled_tables
