"""Outbound / refund / after-sale received on the ts cursor, against a scripted source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from connector_fakes import FakeDocumentErp

from common.settings import KafkaSettings, load_settings
from connectors.aftersale_received import AftersaleReceivedConnector
from connectors.cli import STREAMS, build_source
from connectors.errors import (
    DeliveryFailedError,
    FatalConfigurationError,
    RateLimitedError,
    RetriableApiError,
)
from connectors.inventory import InventoryConnector
from connectors.kafka_producer import InMemoryProducer
from connectors.outbound import OutboundConnector
from connectors.refund import RefundConnector
from connectors.state import CursorStore
from connectors.urgency import Urgency

pytestmark = pytest.mark.unit

KAFKA = KafkaSettings()


def make(
    erp: FakeDocumentErp, producer: InMemoryProducer, store: CursorStore, page_size: int = 5
) -> OutboundConnector:
    return OutboundConnector(erp, producer, store, KAFKA, page_size=page_size)


def latest(producer: InMemoryProducer, topic: str, key: str) -> dict[Any, dict[str, Any]]:
    best: dict[Any, dict[str, Any]] = {}
    for record in producer.on_topic(topic):
        value = record.value_json()
        current = best.get(value[key])
        if current is None or value["ts"] > current["ts"]:
            best[value[key]] = value
    return best


@pytest.fixture
def erp() -> FakeDocumentErp:
    erp = FakeDocumentErp()
    for io_id in range(1, 24):
        erp.put(io_id)
    return erp


def test_pages_by_ts_and_keys_are_json_objects_of_the_business_key(
    erp: FakeDocumentErp, producer: InMemoryProducer, store: CursorStore
) -> None:
    report = make(erp, producer, store).sync_once()
    records = producer.on_topic("erp.ods.outbound")
    assert report.records == len(records) == 23 and report.pages == 5
    assert {r.key_json()["io_id"] for r in records} == set(range(1, 24))
    assert all(r.key_json() == {"io_id": r.value_json()["io_id"]} for r in records)
    value = records[0].value_json()
    assert value["items"][0]["sku_id"] == "SKU-1" and value["_ingested_at"] > 0
    assert all(query.page_index == 1 for _, query in erp.calls)  # the documented ts loop
    state = store.load("outbound")
    assert state["cursors"] == {"all": str(erp.next_ts)}
    assert state["stats"]["records_produced"] == 23
    assert make(erp, producer, store).sync_once().records == 0


def test_rows_modified_while_paging_are_not_missed(
    erp: FakeDocumentErp, producer: InMemoryProducer, store: CursorStore
) -> None:
    def modify(call: int) -> None:
        if call == 3:
            erp.put(2, status="Confirmed")  # already produced: comes again with a higher ts
            erp.put(22, status="Cancelled")  # not yet produced: comes once, latest version
            erp.put(99)  # a new document

    erp.before_query = modify
    make(erp, producer, store).sync_once()
    produced = latest(producer, "erp.ods.outbound", "io_id")
    assert {k: v["ts"] for k, v in produced.items()} == {k: r["ts"] for k, r in erp.rows.items()}
    assert produced[2]["status"] == "Confirmed" and produced[22]["status"] == "Cancelled"


def test_boundary_and_in_page_duplicates_are_dropped_by_key_and_ts(
    producer: InMemoryProducer, store: CursorStore
) -> None:
    erp = FakeDocumentErp(inclusive=True)  # answers ts >= start_ts: the boundary row again
    for io_id in range(1, 12):
        erp.put(io_id)
    erp.extra_rows = [dict(erp.rows[1])]  # the same version twice in one page
    report = make(erp, producer, store).sync_once()
    keys = [r.key_json()["io_id"] for r in producer.on_topic("erp.ods.outbound")]
    assert sorted(keys) == list(range(1, 12))
    assert report.duplicates_dropped >= 2


def test_invalid_documents_go_to_the_dead_letter_topic_with_raw_payload(
    erp: FakeDocumentErp, producer: InMemoryProducer, store: CursorStore
) -> None:
    erp.put(5, items=[{"sku_id": "X", "qty": "many"}])
    erp.put(6, modified="22/11/2026")
    make(erp, producer, store).sync_once()
    letters = [r.value_json() for r in producer.on_topic("erp.dlq.outbound")]
    reasons = {letter["raw"]["io_id"]: letter["reason"] for letter in letters}
    assert set(reasons) == {5, 6}
    assert "items.0.qty" in reasons[5] and "modified" in reasons[6]
    assert letters[0]["raw"]["items"] and letters[0]["source"] == "fake"
    produced = {r.key_json()["io_id"] for r in producer.on_topic("erp.ods.outbound")}
    assert produced == set(range(1, 24)) - {5, 6}


def test_a_failing_page_is_parked_with_a_dead_letter_then_retried(
    erp: FakeDocumentErp, producer: InMemoryProducer, store: CursorStore
) -> None:
    connector = make(erp, producer, store)
    erp.failures = [RetriableApiError("HTTP 503")]
    erp.before_query = lambda call: None
    first = connector.sync_once()
    assert first.parked_windows == 1 and first.records == 0
    state = store.load("outbound")
    assert state["retry_windows"][0]["query"] == {"partition": "all", "start_ts": 0}
    assert "HTTP 503" in state["retry_windows"][0]["reason"]
    [letter] = [r.value_json() for r in producer.on_topic("erp.dlq.outbound")]
    assert letter["context"]["kind"] == "fetch_failure"
    second = connector.sync_once()
    assert second.records == 23 and store.load("outbound")["retry_windows"] == []


def test_failed_flush_keeps_the_cursor(
    erp: FakeDocumentErp, producer: InMemoryProducer, store: CursorStore
) -> None:
    producer.fail_next_flush = True
    with pytest.raises(DeliveryFailedError):
        make(erp, producer, store).sync_once()
    assert store.load("outbound") == {}
    assert make(erp, producer, store).sync_once().records == 23


class TwoWarehouses(InventoryConnector):
    def partitions(self) -> list[Any]:
        self._warehouse_ids = [1, 2]
        return super().partitions()


@pytest.mark.parametrize(
    ("error", "queried_warehouses"),
    [(RateLimitedError("199"), [1]), (RetriableApiError("502"), [1, 2])],
)
def test_a_quota_refusal_ends_the_round_other_failures_move_on(
    producer: InMemoryProducer, store: CursorStore, error: Exception, queried_warehouses: list[int]
) -> None:
    erp = FakeDocumentErp(key="sku_id")
    erp.put("A")
    erp.failures = [error]
    report = TwoWarehouses(erp, producer, store, KAFKA).sync_once()
    assert [q.filters["wms_co_id"] for _, q in erp.calls] == queried_warehouses
    assert report.parked_windows == 1
    assert report.rate_limited is isinstance(error, RateLimitedError)


@pytest.mark.parametrize(
    ("connector", "key"),
    [
        (OutboundConnector, "io_id"),
        (RefundConnector, "as_id"),
        (AftersaleReceivedConnector, "io_id"),
    ],
)
def test_each_document_stream_keys_by_its_id(
    connector: type[OutboundConnector], key: str, producer: InMemoryProducer, store: CursorStore
) -> None:
    erp = FakeDocumentErp(key=key)
    erp.put(7)
    connector(erp, producer, store, KAFKA).sync_once()
    [record] = producer.on_topic(f"erp.ods.{connector.stream}")
    assert record.key_json() == {key: 7}
    assert connector.backlog_urgency is Urgency.DOCUMENTS


def test_registry_lists_dimensions_first_and_ranks_backlogs_for_the_first_screens() -> None:
    assert list(STREAMS)[:3] == ["warehouse", "shop", "sku"]
    ranks = {name: cls.backlog_urgency for name, cls in STREAMS.items()}
    assert ranks == {
        "warehouse": Urgency.DIMENSIONS, "shop": Urgency.DIMENSIONS, "sku": Urgency.DIMENSIONS,
        "inventory": Urgency.INVENTORY, "outbound": Urgency.DOCUMENTS,
        "refund": Urgency.DOCUMENTS, "aftersale_received": Urgency.DOCUMENTS,
    }  # fmt: skip


def test_the_qimen_source_is_a_documented_stub(tmp_path: Path) -> None:
    with pytest.raises(FatalConfigurationError, match="Qimen"):
        build_source(load_settings(), tmp_path, source_name="qimen")
