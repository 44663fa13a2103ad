"""Windows that fail after retries are parked (dead letter + retry list), then read again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from common.settings import KafkaSettings
from connectors.base import PageQuery, SourcePage
from connectors.errors import RateLimitedError, RetriableApiError
from connectors.jushuitan.client import JushuitanClient
from connectors.jushuitan.source import JushuitanSource
from connectors.kafka_producer import InMemoryProducer
from connectors.models import BEIJING, format_erp_time
from connectors.shop import ShopConnector
from connectors.sku import SkuConnector
from connectors.state import CursorStore
from erp_simulator import SimulatorControl

pytestmark = pytest.mark.unit

KAFKA = KafkaSettings()
NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=BEIJING)


class FailingWindows:
    """SKU source failing for windows that start in ``bad_begins``; one SKU per window."""

    name = "scripted"

    def __init__(self, error: Exception, bad_begins: set[datetime]):
        self.error = error
        self.bad_begins = bad_begins
        self.queries: list[PageQuery] = []

    def supports(self, stream: str) -> bool:
        return True

    def max_page_size(self, stream: str) -> int:
        return 50

    def query(self, stream: str, query: PageQuery) -> SourcePage:
        self.queries.append(query)
        assert query.modified_begin is not None and query.modified_end is not None
        if query.modified_begin in self.bad_begins:
            raise self.error
        moment = query.modified_begin + (query.modified_end - query.modified_begin) / 2
        row = {"sku_id": f"S{moment:%m%d%H%M}", "modified": format_erp_time(moment)}
        return SourcePage([row], False, 1, 1)


def make(source: Any, producer: InMemoryProducer, store: CursorStore) -> SkuConnector:
    return SkuConnector(
        source, producer, store, KAFKA, initial_lookback=timedelta(days=21), clock=lambda: NOW,
        whole_list_first=False,
    )  # fmt: skip


def test_a_failing_window_is_parked_and_the_stream_goes_on(
    producer: InMemoryProducer, store: CursorStore
) -> None:
    second_window = NOW - timedelta(days=14)
    source = FailingWindows(RetriableApiError("HTTP 502"), {second_window})
    report = make(source, producer, store).sync_once()
    assert report.parked_windows == 1 and report.records == 2
    state = store.load("sku")
    assert state["window_end"] == format_erp_time(NOW)
    [parked] = state["retry_windows"]
    assert parked["query"] == {
        "modified_begin": format_erp_time(second_window),
        "modified_end": format_erp_time(second_window + timedelta(days=7)),
    }
    [letter] = [r.value_json() for r in producer.on_topic("erp.dlq.sku")]
    assert letter["raw"]["query"] == parked["query"] and "HTTP 502" in letter["reason"]

    source.bad_begins.clear()
    again = make(source, producer, store).sync_once()
    assert source.queries[3].modified_begin == second_window  # parked windows come first
    middle = second_window + timedelta(days=3, hours=12)
    assert again.records >= 1
    produced = {r.key_json()["sku_id"] for r in producer.on_topic("erp.ods.sku")}
    assert f"S{middle:%m%d%H%M}" in produced
    assert store.load("sku")["retry_windows"] == []


def test_a_quota_refusal_parks_and_ends_the_round(
    producer: InMemoryProducer, store: CursorStore
) -> None:
    first_window = NOW - timedelta(days=21)
    source = FailingWindows(RateLimitedError("code 200"), {first_window})
    report = make(source, producer, store).sync_once()
    assert len(source.queries) == 1 and report.rate_limited and report.parked_windows == 1
    assert store.load("sku")["window_end"] == format_erp_time(first_window + timedelta(days=7))


def test_adjacent_failures_merge_into_one_parked_window(
    producer: InMemoryProducer, store: CursorStore
) -> None:
    connector = SkuConnector(
        FailingWindows(RetriableApiError("x"), set()), producer, store, KAFKA,
        window=timedelta(hours=1), initial_lookback=timedelta(hours=3), clock=lambda: NOW,
        whole_list_first=False,
    )  # fmt: skip
    source = connector.source
    assert isinstance(source, FailingWindows)
    source.bad_begins = {NOW - timedelta(hours=3), NOW - timedelta(hours=2)}
    connector.sync_once()
    [parked] = store.load("sku")["retry_windows"]
    assert parked["query"]["modified_begin"] == format_erp_time(NOW - timedelta(hours=3))
    assert parked["query"]["modified_end"] == format_erp_time(NOW - timedelta(hours=1))
    assert parked["failures"] == 2
    assert len(producer.on_topic("erp.dlq.sku")) == 1  # one dead letter per parked window


def test_shops_full_scan_parks_then_produces_changed_shops_only(
    client_factory: Callable[..., JushuitanClient],
    control: SimulatorControl,
    producer: InMemoryProducer,
    store: CursorStore,
) -> None:
    source = JushuitanSource(client_factory(max_attempts=3))
    connector = ShopConnector(source, producer, store, KAFKA)
    connector.refresh_seconds = 3600.0
    control.inject_fault(path="/open/shops/query", http_status=500, count=3)
    assert connector.sync_once().parked_windows == 1
    report = connector.sync_once()  # parked: refreshed now despite the refresh interval
    shops = {row["shop_id"]: row for row in control.shops()}
    produced = producer.on_topic("erp.ods.shop")
    assert report.records == len(shops) == len(produced)
    assert {r.key_json()["shop_id"] for r in produced} == set(shops)
    assert all(r.value_json()["shop_name"] == shops[r.key_json()["shop_id"]]["shop_name"]
               for r in produced)  # fmt: skip
    connector.refresh_seconds = 0.0
    assert connector.sync_once().records == 0
