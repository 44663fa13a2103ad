"""Property: after a sync, the latest version of every ERP record is in the produced
stream, and nothing the ERP never had -- for random order histories, page sizes,
modifications while paging and injected faults (5xx, 429, 199/200, duplicates across
pages, shifted pages, out-of-order saves). Runs against the in-process simulator with
the InMemoryProducer.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from connector_fakes import backfill_orders, latest_by_key, no_wait_budget
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.settings import KafkaSettings, SimulatorSettings
from connectors.base import PageProgress, StreamConnector
from connectors.cli import STREAMS
from connectors.jushuitan.client import JushuitanClient
from connectors.jushuitan.source import ENDPOINTS, JushuitanSource
from connectors.kafka_producer import InMemoryProducer
from connectors.state import CursorStore
from erp_simulator import start_simulator
from erp_simulator.faults import Fault
from erp_simulator.gateway import SimulatorConfig

pytestmark = pytest.mark.unit

TS_STREAMS = {
    "outbound": ("io_id",),
    "refund": ("as_id",),
    "aftersale_received": ("io_id",),
    "inventory": ("sku_id", "wms_co_id"),
}
ERP_STREAMS = ["inventory", "sku", "outbound", "refund", "aftersale_received"]

faults = st.builds(
    Fault,
    count=st.integers(1, 3),
    path=st.sampled_from([ENDPOINTS[name].path for name in ERP_STREAMS] + [None]),
    http_status=st.sampled_from([None, None, 500, 502, 503, 429]),
    code=st.sampled_from([None, None, 199, 200]),
    retry_after=st.sampled_from([None, 0.0]),
    effect=st.sampled_from(["", "shift", "duplicate", "out_of_order"]),
    rows=st.integers(1, 3),
)
touches = st.lists(
    st.tuples(st.integers(1, 12), st.sampled_from(ERP_STREAMS)), max_size=6
)  # (page number of the run, stream whose random record changes then)


def run_rounds(connectors: list[StreamConnector], rounds: int) -> dict[str, int]:
    produced: dict[str, int] = {}
    for _ in range(rounds):
        for connector in connectors:
            records = connector.sync_once().records
            if records:
                produced[connector.stream] = produced.get(connector.stream, 0) + records
    return produced


def erp_latest(store: Any, stream: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    fields = TS_STREAMS.get(stream, ("sku_id",))
    return {tuple(row[name] for name in fields): row for row in store.rows(stream)}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    seed=st.integers(1, 10_000),
    orders_per_hour=st.integers(0, 60),
    page_size=st.integers(2, 20),
    injected=st.lists(faults, max_size=5),
    changes=touches,
)
def test_the_latest_version_of_every_record_is_produced_and_nothing_else(
    seed: int,
    orders_per_hour: int,
    page_size: int,
    injected: list[Fault],
    changes: list[tuple[int, str]],
) -> None:
    simulator = start_simulator(
        SimulatorSettings(seed=seed, sku_count=12, warehouse_count=2, enforce_quota=False),
        port=0,
        config=SimulatorConfig(enforce_quota=False),
    )
    try:
        store = simulator.store
        if orders_per_hour:
            backfill_orders(store, hours=2, orders_per_hour=orders_per_hour, seed=seed)
        client = JushuitanClient(
            simulator.jushuitan_settings(min_call_interval_seconds=0.0),
            budget=no_wait_budget(),
            max_attempts=3,
            sleep=lambda seconds: None,
        )
        source = JushuitanSource(client)
        producer = InMemoryProducer()
        pages = [0]
        pending = sorted(changes)

        def on_page(progress: PageProgress) -> None:  # modify records while we page
            pages[0] += 1
            while pending and pending[0][0] <= pages[0]:
                _, stream = pending.pop(0)
                if stream == "sku":
                    store.update_sku(store.rng.choice(sorted(store.skus)), name=f"v{pages[0]}")
                elif store.rows(stream):
                    store.touch(stream)

        with TemporaryDirectory() as state_dir:
            cursor_store = CursorStore(Path(state_dir))
            connectors = [
                cls(source, producer, cursor_store, KafkaSettings(), page_size=page_size,
                    on_page=on_page)
                for cls in STREAMS.values()
            ]  # fmt: skip
            simulator.gateway.add_faults([replace(fault) for fault in injected])  # consumed
            run_rounds(connectors, 2)
            simulator.gateway.clear_faults()
            pending.clear()
            for _ in range(6):  # until a round brings nothing and nothing stays parked
                produced = run_rounds(connectors, 1)
                parked = {c.stream: w for c in connectors
                          if (w := cursor_store.load(c.stream).get("retry_windows"))}  # fmt: skip
                if not produced and not parked:
                    break
            else:
                pytest.fail(f"the sync did not converge: produced {produced}, parked {parked}")
        client.close()

        for stream, fields in TS_STREAMS.items():
            erp = erp_latest(store, stream)
            produced = latest_by_key(producer.on_topic(f"erp.ods.{stream}"), fields)
            assert set(produced) == set(erp), stream  # every record, and no invented key
            for key, value in produced.items():
                assert value["ts"] == erp[key]["ts"], (stream, key)
                assert value["modified"] == erp[key]["modified"], (stream, key)
            if stream != "inventory":
                for key, value in produced.items():
                    assert value.get("status") == erp[key].get("status"), (stream, key)
        last_sku: dict[str, dict[str, Any]] = {}
        for record in producer.on_topic("erp.ods.sku"):
            last_sku[record.key_json()["sku_id"]] = record.value_json()
        skus = erp_latest(store, "sku")
        assert set(last_sku) == {key[0] for key in skus}
        for (sku_id,), row in skus.items():
            assert last_sku[sku_id]["modified"] == row["modified"]
            assert last_sku[sku_id]["name"] == row["name"]
        assert {r.key_json()["shop_id"] for r in producer.on_topic("erp.ods.shop")} == {
            row["shop_id"] for row in store.shops
        }
        letters = [r.value_json() for r in producer.records if ".dlq." in r.topic]
        assert all(letter["context"].get("kind") == "fetch_failure" for letter in letters)
    finally:
        simulator.stop()
