"""One running Flink pipeline for every test in this folder, on the session's Kafka and
ClickHouse, with topics of its own prefix."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_fault_proxy import FaultProxy
from kafka import KafkaProducer

from common.settings import Settings
from erpbi import stack
from erpbi.services import _create_topics, by_name
from warehouse.client import connect


@pytest.fixture(scope="session")
def clickhouse_proxy(clickhouse_server: Settings) -> Iterator[FaultProxy]:
    """What the job's sink talks to: the session's server, or a 5xx when a test says so."""
    proxy = FaultProxy(clickhouse_server.clickhouse.host, clickhouse_server.clickhouse.port)
    yield proxy
    proxy.close()


@pytest.fixture(scope="session")
def pipeline_settings(kafka_broker: Settings, clickhouse_proxy: FaultProxy) -> Settings:
    """The job's own settings: topics of this folder's prefix, the warehouse through the proxy.
    Start (and restart) the pipeline with these; everything else uses ``job_settings``."""
    settings = kafka_broker.model_copy(
        update={"kafka": kafka_broker.kafka.model_copy(update={"topic_prefix": "flinktest"})}
    )
    return settings.model_copy(
        update={
            "clickhouse": settings.clickhouse.model_copy(update={"port": clickhouse_proxy.port})
        }
    )


@pytest.fixture(scope="session")
def job_settings(pipeline_settings: Settings, clickhouse_server: Settings) -> Iterator[Settings]:
    """The shared broker and warehouse, with topics of this folder's own prefix, and the
    pipeline running on them (it reaches the warehouse through ``clickhouse_proxy``)."""
    settings = pipeline_settings.model_copy(update={"clickhouse": clickhouse_server.clickhouse})
    _create_topics(settings)
    stack.start_service(pipeline_settings, by_name("flink-pipeline"), report=lambda line: None)
    yield settings
    stack.down(settings, ["flink-pipeline"], report=lambda line: None)


@pytest.fixture(scope="session")
def producer(
    job_settings: Settings,
) -> Iterator[Callable[[str, dict[str, Any] | bytes, dict[str, Any] | None], None]]:
    kafka = KafkaProducer(bootstrap_servers=job_settings.kafka.bootstrap_servers, acks="all")

    def send(stream: str, value: dict[str, Any] | bytes, key: dict[str, Any] | None = None) -> None:
        payload = (
            value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode()
        )
        encoded_key = json.dumps(key).encode() if key is not None else None
        kafka.send(job_settings.kafka.topic("ods", stream), key=encoded_key, value=payload).get(30)

    yield send
    kafka.close()


@pytest.fixture(scope="session")
def warehouse(job_settings: Settings) -> Iterator[Client]:
    client = connect(job_settings.clickhouse)
    yield client
    client.close()
