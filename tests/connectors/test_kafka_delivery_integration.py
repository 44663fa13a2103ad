"""Against a real broker: the ``kafka_settings`` fixture comes from tests/conftest.py."""

from __future__ import annotations

import json
import uuid

import pytest

from common.settings import KafkaSettings, Settings
from connectors.cli import run_sync
from connectors.kafka_producer import KafkaRecordProducer
from erp_simulator import SimulatorControl

pytestmark = pytest.mark.integration


def create_topics(kafka: KafkaSettings, streams: list[str]) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic  # type: ignore[import-untyped]
    from kafka.errors import TopicAlreadyExistsError  # type: ignore[import-untyped]

    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    try:
        topics = [
            NewTopic(kafka.topic(layer, stream), kafka.partitions, 1)
            for stream in streams
            for layer in ("ods", "dlq")
        ]
        try:
            admin.create_topics(topics)
        except TopicAlreadyExistsError:
            pass
    finally:
        admin.close()


def consume_all(kafka: KafkaSettings, topic: str, expected: int) -> list[tuple[bytes, bytes]]:
    from kafka import KafkaConsumer  # type: ignore[import-untyped]

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=15000,
        group_id=None,
    )
    messages = []
    try:
        for message in consumer:
            messages.append((message.key, message.value))
            if len(messages) >= expected:
                break
    finally:
        consumer.close()
    return messages


def test_sync_once_delivers_every_row_to_kafka(
    kafka_settings: KafkaSettings, app_settings: Settings, control: SimulatorControl
) -> None:
    kafka = kafka_settings.model_copy(update={"topic_prefix": f"it{uuid.uuid4().hex[:8]}"})
    create_topics(kafka, ["inventory", "sku"])
    settings = app_settings.model_copy(update={"kafka": kafka})
    producer = KafkaRecordProducer(kafka)
    try:
        totals = run_sync(settings, ["inventory", "sku"], False, producer=producer)
    finally:
        producer.close()
    erp_inventory = control.inventory()
    assert totals["inventory"].records == len(erp_inventory)
    messages = consume_all(kafka, kafka.topic("ods", "inventory"), len(erp_inventory))
    keys = {(json.loads(k)["sku_id"], json.loads(k)["wms_co_id"]) for k, _ in messages}
    assert keys == {(row["sku_id"], row["wms_co_id"]) for row in erp_inventory}
    sku_messages = consume_all(kafka, kafka.topic("ods", "sku"), totals["sku"].records)
    assert len(sku_messages) == len(control.skus())
