from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from common.settings import KafkaSettings, SimulatorSettings
from connectors.base import PageQuery, SourcePage
from connectors.errors import CursorNotAdvancingError, DeliveryFailedError
from connectors.inventory import InventoryConnector
from connectors.jushuitan.client import JushuitanClient
from connectors.jushuitan.source import JushuitanSource
from connectors.kafka_producer import InMemoryProducer
from connectors.state import CursorStore
from erp_simulator import RunningSimulator, SimulatorControl

pytestmark = pytest.mark.unit

KAFKA = KafkaSettings()


def make(
    source: Any, producer: InMemoryProducer, store: CursorStore, **options: Any
) -> InventoryConnector:
    return InventoryConnector(
        source, producer, store, KAFKA, page_size=options.pop("page_size", 7), **options
    )


def produced_state(producer: InMemoryProducer) -> dict[tuple[str, int], dict[str, Any]]:
    """Last value per key, as a consumer of a compacted topic would see it."""
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for record in producer.on_topic("erp.ods.inventory"):
        key = record.key_json()
        latest[(key["sku_id"], key["wms_co_id"])] = record.value_json()
    return latest


def test_full_sync_reproduces_what_the_erp_has(
    simulator: RunningSimulator,
    source: JushuitanSource,
    producer: InMemoryProducer,
    store: CursorStore,
    control: SimulatorControl,
) -> None:
    report = make(source, producer, store).sync_once()
    erp = {(row["sku_id"], row["wms_co_id"]): row for row in control.inventory()}
    produced = produced_state(producer)
    assert set(produced) == set(erp)
    for key, value in produced.items():
        assert value["qty"] == erp[key]["qty"] and value["ts"] == erp[key]["ts"]
        assert value["wms_co_id"] == key[1] and value["_ingested_at"] > 0
    assert report.records == len(erp) and report.dead_letters == 0
    cursors = store.load("inventory")["cursors"]
    for wms_co_id in simulator.store.warehouse_ids:
        assert int(cursors[str(wms_co_id)]) == max(
            row["ts"] for row in erp.values() if row["wms_co_id"] == wms_co_id
        )


def test_key_is_sku_and_warehouse_json(
    source: JushuitanSource, producer: InMemoryProducer, store: CursorStore
) -> None:
    make(source, producer, store).sync_once()
    record = producer.records[0]
    assert record.key is not None and record.key.startswith(b'{"sku_id":')
    assert list(record.key_json()) == ["sku_id", "wms_co_id"]


def test_incremental_sync_sends_only_changes(
    simulator: RunningSimulator,
    source: JushuitanSource,
    producer: InMemoryProducer,
    store: CursorStore,
    control: SimulatorControl,
) -> None:
    connector = make(source, producer, store)
    connector.sync_once()
    before = len(producer.records)
    wms_co_id = simulator.store.warehouse_ids[1]
    control.set_inventory(
        "I00001-BL-L"
        if "I00001-BL-L" in simulator.store.skus
        else next(iter(simulator.store.skus)),
        wms_co_id,
        qty=3,
    )
    assert connector.sync_once().records == 1
    assert connector.sync_once().records == 0
    assert len(producer.records) == before + 1
    assert producer.records[-1].value_json()["qty"] == 3


def test_cursor_is_not_saved_when_kafka_does_not_acknowledge(
    source: JushuitanSource,
    producer: InMemoryProducer,
    store: CursorStore,
    control: SimulatorControl,
) -> None:
    producer.fail_next_flush = True
    with pytest.raises(DeliveryFailedError):
        make(source, producer, store).sync_once()
    assert store.load("inventory") == {}
    make(source, producer, store).sync_once()
    assert len(produced_state(producer)) == len(control.inventory())


def test_inclusive_ts_source_gives_no_duplicates(
    simulator_factory: Callable[..., RunningSimulator],
    client_factory: Callable[..., JushuitanClient],
    producer: InMemoryProducer,
    store: CursorStore,
) -> None:
    inclusive = simulator_factory(
        SimulatorSettings(sku_count=20, warehouse_count=1, enforce_quota=False), ts_inclusive=True
    )
    source = JushuitanSource(client_factory(simulator=inclusive))
    connector = make(source, producer, store)
    assert connector.sync_once().records == 20
    assert connector.sync_once().records == 0
    assert len(producer.records) == 20


def test_warehouses_are_discovered_or_given(
    simulator: RunningSimulator,
    source: JushuitanSource,
    producer: InMemoryProducer,
    store: CursorStore,
) -> None:
    ids = simulator.store.warehouse_ids
    assert [p.name for p in make(source, producer, store).partitions()] == [str(i) for i in ids]
    only = make(source, producer, store, warehouse_ids=[ids[0]])
    only.sync_once()
    assert {r.key_json()["wms_co_id"] for r in producer.records} == {ids[0]}


def test_stop_event_stops_between_pages(
    source: JushuitanSource, producer: InMemoryProducer, store: CursorStore
) -> None:
    stop = threading.Event()
    connector = make(source, producer, store, stop_event=stop, on_page=lambda progress: stop.set())
    report = connector.sync_once()
    assert report.pages == 1 and report.records == 7


# -- edge cases with a scripted source ---------------------------------------------------


class ScriptedSource:
    """Answers pages from a script; fails on anything it was not told about."""

    name = "scripted"

    def __init__(self, pages: list[SourcePage]):
        self.pages = pages
        self.queries: list[PageQuery] = []

    def supports(self, stream: str) -> bool:
        return stream == "inventory"

    def max_page_size(self, stream: str) -> int:
        return 100

    def query(self, stream: str, query: PageQuery) -> SourcePage:
        assert stream == "inventory", f"unexpected stream {stream}"
        self.queries.append(query)
        return self.pages.pop(0) if self.pages else SourcePage([], False)


def row(sku_id: str, ts: Any, qty: int = 1) -> dict[str, Any]:
    return {"sku_id": sku_id, "ts": ts, "qty": qty, "modified": "2026-11-22 10:00:00"}


def test_bad_rows_go_to_the_dead_letter_topic(
    producer: InMemoryProducer, store: CursorStore
) -> None:
    source = ScriptedSource([SourcePage([row("A", 5), row("B", "x"), {"ts": 9}], False)])
    report = make(source, producer, store, warehouse_ids=[3]).sync_once()
    assert report.records == 1 and report.dead_letters == 2
    dead = [record.value_json() for record in producer.on_topic("erp.dlq.inventory")]
    assert {d["raw"].get("sku_id") for d in dead} == {"B", None}
    assert all(d["context"] == {"wms_co_id": 3} and d["reason"] for d in dead)
    assert store.load("inventory")["cursors"] == {"3": "9"}  # past the dead row with ts 9


def test_cursor_follows_the_largest_ts_with_page_index_one(
    producer: InMemoryProducer, store: CursorStore
) -> None:
    source = ScriptedSource(
        [SourcePage([row("A", 10), row("B", 12)], True), SourcePage([row("C", 15)], False)]
    )
    make(source, producer, store, warehouse_ids=[3]).sync_once()
    assert [(q.page_index, q.start_ts) for q in source.queries] == [(1, 0), (1, 12)]
    assert source.queries[0].filters == {"wms_co_id": 3}


def test_same_key_twice_in_a_page_keeps_the_highest_ts(
    producer: InMemoryProducer, store: CursorStore
) -> None:
    source = ScriptedSource([SourcePage([row("A", 10, qty=1), row("A", 14, qty=2)], False)])
    make(source, producer, store, warehouse_ids=[3]).sync_once()
    assert [r.value_json()["qty"] for r in producer.records] == [2]


def test_has_next_without_progress_aborts(producer: InMemoryProducer, store: CursorStore) -> None:
    store.save("inventory", {"cursors": {"3": "20"}})
    source = ScriptedSource([SourcePage([row("A", 21)], True), SourcePage([row("B", "bad")], True)])
    with pytest.raises(CursorNotAdvancingError):
        make(source, producer, store, warehouse_ids=[3]).sync_once()
    assert store.load("inventory")["cursors"] == {"3": "21"}


def test_commit_order_is_fetch_produce_flush_save(store: CursorStore) -> None:
    events: list[str] = []

    class RecordingProducer(InMemoryProducer):
        def send(self, topic: str, key: bytes | None, value: bytes) -> None:
            events.append("produce")
            super().send(topic, key, value)

        def flush(self, timeout_seconds: float | None = None) -> None:
            events.append("flush")
            super().flush(timeout_seconds)

    class RecordingStore(CursorStore):
        def save(self, stream: str, state: dict[str, Any]) -> None:
            events.append("save")
            super().save(stream, state)

    class RecordingSource(ScriptedSource):
        def query(self, stream: str, query: PageQuery) -> SourcePage:
            events.append("fetch")
            return super().query(stream, query)

    source = RecordingSource(
        [SourcePage([row("A", 1), row("B", 2)], True), SourcePage([row("C", 3)], False)]
    )
    make(
        source, RecordingProducer(), RecordingStore(store.directory), warehouse_ids=[1]
    ).sync_once()
    assert events == [
        "fetch",
        "produce",
        "produce",
        "flush",
        "save",
        "fetch",
        "produce",
        "flush",
        "save",
    ]
