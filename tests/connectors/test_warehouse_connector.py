"""The warehouse dimension: full scan, only changed warehouses produced, keyed by wms_co_id."""

from __future__ import annotations

from common.settings import KafkaSettings
from connectors.jushuitan.source import JushuitanSource
from connectors.kafka_producer import InMemoryProducer
from connectors.state import CursorStore
from connectors.warehouse_dimension import WarehouseConnector
from erp_simulator import RunningSimulator


def make(
    source: JushuitanSource, producer: InMemoryProducer, store: CursorStore
) -> WarehouseConnector:
    connector = WarehouseConnector(source, producer, store, KafkaSettings())
    connector.refresh_seconds = 0.0
    return connector


def test_every_warehouse_is_produced_with_province(
    simulator: RunningSimulator, source: JushuitanSource, producer: InMemoryProducer,
    store: CursorStore,
) -> None:
    make(source, producer, store).sync_once()
    produced = producer.on_topic("erp.ods.warehouse")
    expected = {row["wms_co_id"]: row for row in simulator.store.warehouses}
    assert {record.key_json()["wms_co_id"] for record in produced} == set(expected)
    for record in produced:
        value = record.value_json()
        assert value["province"] == expected[value["wms_co_id"]]["province"]
        assert value["name"] == expected[value["wms_co_id"]]["name"]


def test_unchanged_warehouses_are_not_produced_again(
    source: JushuitanSource, producer: InMemoryProducer, store: CursorStore
) -> None:
    connector = make(source, producer, store)
    connector.sync_once()
    first = len(producer.on_topic("erp.ods.warehouse"))
    connector.sync_once()
    assert first > 0
    assert len(producer.on_topic("erp.ods.warehouse")) == first


def test_refresh_interval_spares_the_quota(
    source: JushuitanSource, producer: InMemoryProducer, store: CursorStore
) -> None:
    connector = make(source, producer, store)
    connector.sync_once()
    connector.refresh_seconds = 3600.0
    report = connector.sync_once()
    assert report.pages == 0
