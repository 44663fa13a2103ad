from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest

from common.settings import KafkaSettings
from connectors.base import PageProgress, PageQuery, SourcePage
from connectors.jushuitan.source import JushuitanSource
from connectors.kafka_producer import InMemoryProducer
from connectors.models import BEIJING, format_erp_time
from connectors.sku import SkuConnector
from connectors.state import CursorStore
from erp_simulator import SimulatorControl

pytestmark = pytest.mark.unit

KAFKA = KafkaSettings()
NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=BEIJING)


def make(
    source: Any, producer: InMemoryProducer, store: CursorStore, **options: Any
) -> SkuConnector:
    """A connector reading by windows from its first sync (the whole-list first load has
    its own tests below)."""
    options.setdefault("whole_list_first", False)
    return SkuConnector(
        source, producer, store, KAFKA, page_size=options.pop("page_size", 9), **options
    )


def test_full_sync_reproduces_every_sku(
    source: JushuitanSource,
    producer: InMemoryProducer,
    store: CursorStore,
    control: SimulatorControl,
) -> None:
    report = make(source, producer, store).sync_once()
    erp = {row["sku_id"]: row for row in control.skus()}
    records = producer.on_topic("erp.ods.sku")
    assert sorted(r.key_json()["sku_id"] for r in records) == sorted(erp)
    assert all(r.key_json() == {"sku_id": r.value_json()["sku_id"]} for r in records)
    for record in records:
        value = record.value_json()
        assert value["cost_price"] == erp[value["sku_id"]]["cost_price"]
        assert value["_ingested_at"] > 0
    assert report.records == len(erp) and report.dead_letters == 0


def test_changes_are_picked_up_and_boundary_duplicates_dropped(
    source: JushuitanSource,
    producer: InMemoryProducer,
    store: CursorStore,
    control: SimulatorControl,
) -> None:
    connector = make(source, producer, store, overlap=timedelta(minutes=10))
    sku_id = control.skus()[0]["sku_id"]
    control.update_sku(sku_id, name="改名后", category="外套")
    first = connector.sync_once()
    assert first.records == 40
    second = connector.sync_once()  # re-reads the last 10 minutes: the renamed SKU again
    assert second.records == 0 and second.duplicates_dropped >= 1
    control.update_sku(sku_id, cost_price=99.5)
    control.update_sku("I99999-NEW-S", name="新品")
    third = connector.sync_once()
    latest = {r.key_json()["sku_id"]: r.value_json() for r in producer.on_topic("erp.ods.sku")}
    assert latest["I99999-NEW-S"]["name"] == "新品"
    assert latest[sku_id]["cost_price"] == 99.5 and latest[sku_id]["name"] == "改名后"
    assert third.records == 2  # even when both edits of sku_id fall in the same second


class ScriptedSkuSource:
    name = "scripted"

    def __init__(self, pages: list[SourcePage] | None = None):
        self.pages = pages or []
        self.queries: list[PageQuery] = []

    def supports(self, stream: str) -> bool:
        return stream == "sku"

    def max_page_size(self, stream: str) -> int:
        return 50

    def query(self, stream: str, query: PageQuery) -> SourcePage:
        assert stream == "sku"
        self.queries.append(query)
        return self.pages.pop(0) if self.pages else SourcePage([], False, query.page_index, 0)


def sku(sku_id: str, modified: datetime) -> dict[str, Any]:
    return {"sku_id": sku_id, "modified": format_erp_time(modified)}


def test_windows_are_at_most_seven_days_and_end_at_sync_start(
    producer: InMemoryProducer, store: CursorStore
) -> None:
    source = ScriptedSkuSource()
    make(
        source,
        producer,
        store,
        window=timedelta(days=30),
        initial_lookback=timedelta(days=20),
        clock=lambda: NOW,
    ).sync_once()
    windows = [(q.modified_begin, q.modified_end) for q in source.queries]
    assert len(windows) == 3
    assert windows[0][0] == NOW - timedelta(days=20) and windows[-1][1] == NOW
    assert all(end - begin <= timedelta(days=7) for begin, end in windows if begin and end)
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))
    assert store.load("sku")["window_end"] == format_erp_time(NOW)
    assert source.queries[0].filters == {"date_field": "modified"}


def test_next_sync_starts_overlap_before_the_saved_end(
    producer: InMemoryProducer, store: CursorStore
) -> None:
    store.save(
        "sku", {"window_end": format_erp_time(NOW - timedelta(hours=1)), "boundary_keys": []}
    )
    source = ScriptedSkuSource()
    make(source, producer, store, overlap=timedelta(minutes=2), clock=lambda: NOW).sync_once()
    assert source.queries[0].modified_begin == NOW - timedelta(hours=1, minutes=2)


def test_window_is_read_again_when_it_changes_while_paging(
    producer: InMemoryProducer, store: CursorStore
) -> None:
    t = NOW - timedelta(minutes=30)
    pages = [
        SourcePage([sku("A", t), sku("B", t)], True, 1, 4),
        SourcePage([sku("D", t)], False, 2, 3),  # C moved out of the window; D shifted
        SourcePage([sku("A", t), sku("B", t)], True, 1, 3),
        SourcePage([sku("C2", t)], False, 2, 3),
    ]
    source = ScriptedSkuSource(pages)
    report = make(
        source, producer, store, initial_lookback=timedelta(hours=1), clock=lambda: NOW
    ).sync_once()
    assert sorted(r.key_json()["sku_id"] for r in producer.records) == ["A", "B", "C2", "D"]
    assert report.duplicates_dropped == 2


def test_boundary_keys_survive_between_runs(producer: InMemoryProducer, store: CursorStore) -> None:
    edge = NOW - timedelta(seconds=30)
    first = ScriptedSkuSource([SourcePage([sku("A", edge)], False, 1, 1)])
    make(first, producer, store, initial_lookback=timedelta(hours=1), clock=lambda: NOW).sync_once()
    [boundary_key] = store.load("sku")["boundary_keys"]
    assert boundary_key.startswith(f"A|{format_erp_time(edge)}|")
    later = NOW + timedelta(seconds=5)
    second = ScriptedSkuSource([SourcePage([sku("A", edge), sku("B", later)], False, 1, 2)])
    report = make(second, producer, store, clock=lambda: later).sync_once()
    assert report.records == 1 and report.duplicates_dropped == 1


def test_stop_mid_window_keeps_the_old_cursor(
    producer: InMemoryProducer, store: CursorStore
) -> None:
    stop = threading.Event()
    source = ScriptedSkuSource([SourcePage([sku("A", NOW - timedelta(days=2))], True, 1, 2)])
    connector = make(
        source,
        producer,
        store,
        initial_lookback=timedelta(days=3),
        clock=lambda: NOW,
        stop_event=stop,
        on_page=lambda progress: stop.set(),
    )
    connector.sync_once()
    assert len(producer.records) == 1
    assert store.load("sku") == {}


def test_two_edits_in_the_same_second_both_get_through(
    producer: InMemoryProducer, store: CursorStore
) -> None:
    edge = NOW - timedelta(seconds=10)
    first = ScriptedSkuSource([SourcePage([{**sku("A", edge), "name": "v1"}], False, 1, 1)])
    make(first, producer, store, initial_lookback=timedelta(hours=1), clock=lambda: NOW).sync_once()
    second = ScriptedSkuSource([SourcePage([{**sku("A", edge), "name": "v2"}], False, 1, 1)])
    make(second, producer, store, clock=lambda: NOW + timedelta(seconds=2)).sync_once()
    assert [r.value_json()["name"] for r in producer.records] == ["v1", "v2"]


def test_the_first_load_reads_the_whole_list_one_call_per_page(
    source: JushuitanSource,
    producer: InMemoryProducer,
    store: CursorStore,
    control: SimulatorControl,
) -> None:
    """No time filter on the first load: 40 SKUs at 9 a page are 5 calls, however far back
    their modified times reach (windows would cost one call per empty week)."""
    before = control.state()["requests_by_path"].get("/open/sku/query", 0)
    report = SkuConnector(source, producer, store, KAFKA, page_size=9).sync_once()
    calls = control.state()["requests_by_path"]["/open/sku/query"] - before
    assert report.records == 40 and calls == 5
    produced = {r.key_json()["sku_id"] for r in producer.on_topic("erp.ods.sku")}
    assert produced == {row["sku_id"] for row in control.skus()}
    state = store.load("sku")
    assert "window_end" in state and state["initial_load"]["done_ms"]
    assert state["initial_load"]["parts"]["all"]["total"] == 40


def test_a_sku_moving_to_the_end_of_the_list_while_paging_loses_no_other(
    source: JushuitanSource,
    producer: InMemoryProducer,
    store: CursorStore,
    control: SimulatorControl,
) -> None:
    """The list is in modified order: an edit moves a row already read to the end, every
    row after it shifts up one place and one of them would fall between two pages."""
    moved: list[str] = []

    def edit_a_read_row(progress: PageProgress) -> None:
        if progress.page == 1 and not moved:
            first_read = producer.on_topic("erp.ods.sku")[0].key_json()["sku_id"]
            control.update_sku(first_read, name="改了")
            moved.append(first_read)

    connector = SkuConnector(source, producer, store, KAFKA, page_size=9, on_page=edit_a_read_row)
    connector.sync_once()
    produced = {r.key_json()["sku_id"] for r in producer.on_topic("erp.ods.sku")}
    assert produced == {row["sku_id"] for row in control.skus()}
    latest = {r.key_json()["sku_id"]: r.value_json() for r in producer.on_topic("erp.ods.sku")}
    assert latest[moved[0]]["name"] == "改了"
