from __future__ import annotations

import json
import threading
from collections.abc import Callable

import pytest

from common.settings import Settings
from connectors.base import PageProgress
from connectors.cli import run_sync, state_directory
from connectors.errors import FatalConfigurationError, RetriableError, SyncIncompleteError
from connectors.jushuitan.client import JushuitanClient
from connectors.jushuitan.source import JushuitanSource
from connectors.kafka_producer import InMemoryProducer
from erp_simulator import SimulatorControl

pytestmark = pytest.mark.unit


def test_once_syncs_both_streams_and_reports_pages(
    app_settings: Settings,
    producer: InMemoryProducer,
    control: SimulatorControl,
) -> None:
    pages: list[PageProgress] = []
    totals = run_sync(
        app_settings, ["inventory", "sku"], False, producer=producer, on_page=pages.append
    )
    assert totals["inventory"].records == len(control.inventory()) == 80
    assert totals["sku"].records == len(control.skus()) == 40
    assert {p.stream for p in pages} == {"inventory", "sku"}
    assert (state_directory(app_settings) / "inventory.json").exists()
    assert (state_directory(app_settings) / "jushuitan-token.json").exists()
    again = run_sync(app_settings, ["inventory", "sku"], False, producer=producer)
    assert again["inventory"].records == 0 and again["sku"].records == 0


def test_follow_picks_up_changes_until_stopped(
    app_settings: Settings,
    producer: InMemoryProducer,
    control: SimulatorControl,
) -> None:
    stop = threading.Event()
    changed = threading.Event()

    def on_page(progress: PageProgress) -> None:
        if progress.stream == "inventory" and not changed.is_set() and producer.records:
            changed.set()
            control.set_inventory(control.skus()[0]["sku_id"], 10200001, qty=777)
        if any(r.value_json().get("qty") == 777 for r in producer.records[-3:]):
            stop.set()

    worker = threading.Thread(
        target=run_sync,
        args=(app_settings, ["inventory"], True, stop),
        kwargs={"producer": producer, "on_page": on_page},
    )
    worker.start()
    worker.join(timeout=20)
    stop.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert any(r.value_json()["qty"] == 777 for r in producer.on_topic("erp.ods.inventory"))


def test_follow_degrades_on_sustained_failures_instead_of_dying(
    app_settings: Settings,
    producer: InMemoryProducer,
    control: SimulatorControl,
    client_factory: Callable[..., JushuitanClient],
) -> None:
    source = JushuitanSource(client_factory(max_attempts=2))
    control.inject_fault(http_status=429, count=4)
    stop = threading.Event()
    rounds: list[int] = []

    def on_page(progress: PageProgress) -> None:
        rounds.append(progress.page)
        stop.set()

    app = app_settings.model_copy(
        update={
            "jushuitan": app_settings.jushuitan.model_copy(update={"poll_interval_seconds": 0.01})
        }
    )
    worker = threading.Thread(
        target=run_sync,
        args=(app, ["inventory"], True, stop),
        kwargs={"producer": producer, "source": source, "on_page": on_page},
    )
    worker.start()
    worker.join(timeout=20)
    stop.set()
    assert rounds, "the sync recovered after the throttling stopped"
    assert control.state()["replies_by_code"]["http_429"] == 4


def test_once_parks_failing_windows_and_the_next_run_reads_them(
    app_settings: Settings,
    producer: InMemoryProducer,
    control: SimulatorControl,
    client_factory: Callable[..., JushuitanClient],
) -> None:
    control.inject_fault(http_status=503, count=2)  # both attempts of the first call
    source = JushuitanSource(client_factory(max_attempts=2))
    with pytest.raises(SyncIncompleteError) as raised:
        run_sync(app_settings, ["sku"], False, producer=producer, source=source)
    assert raised.value.reports["sku"].parked_windows == 1  # the first load's whole list
    letters = [r.value_json() for r in producer.on_topic("erp.dlq.sku")]
    assert len(letters) == 1 and letters[0]["context"]["kind"] == "fetch_failure"
    state = json.loads((state_directory(app_settings) / "sku.json").read_text())
    assert len(state["retry_windows"]) == 1 and "window_end" not in state
    run_sync(app_settings, ["sku"], False, producer=producer, source=source)
    state = json.loads((state_directory(app_settings) / "sku.json").read_text())
    assert state["retry_windows"] == []
    produced = {r.key_json()["sku_id"] for r in producer.on_topic("erp.ods.sku")}
    assert produced == {row["sku_id"] for row in control.skus()}


def test_once_raises_retriable_delivery_errors(
    app_settings: Settings, control: SimulatorControl
) -> None:
    failing = InMemoryProducer()
    failing.fail_next_flush = True
    with pytest.raises(RetriableError):
        run_sync(app_settings, ["shop"], False, producer=failing)


def test_unknown_stream_is_a_configuration_error(
    app_settings: Settings, producer: InMemoryProducer
) -> None:
    with pytest.raises(FatalConfigurationError):
        run_sync(app_settings, ["orders"], False, producer=producer)
