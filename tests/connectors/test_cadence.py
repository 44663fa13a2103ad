"""Degradation to 5-minute cycles under sustained throttling, and recovery by itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from connector_fakes import backfill_orders, latest_by_key

from common.settings import Settings
from connectors.cadence import Cadence, Mode
from connectors.cli import run_sync, state_directory
from connectors.errors import RateLimitedError
from connectors.jushuitan.client import JushuitanClient
from connectors.jushuitan.source import JushuitanSource
from connectors.kafka_producer import InMemoryProducer
from connectors.status import format_status, quota_usage, sync_status
from erp_simulator import RunningSimulator

pytestmark = pytest.mark.unit


def quick_cadence(**options: float) -> Cadence:
    values = dict(
        poll_seconds=0.01, degrade_after_seconds=0.2, streak_gap_seconds=1.0,
        probe_seconds=0.05, recover_after_probes=2, degraded_cycle_seconds=300.0,
        max_backoff_seconds=0.05,
    )  # fmt: skip
    values.update(options)
    poll = values.pop("poll_seconds")
    return Cadence(poll, **values)  # type: ignore[arg-type]


def test_sustained_throttling_degrades_and_clean_probes_recover() -> None:
    storm_until = time.monotonic() + 0.6
    probes: list[float] = []

    def probe() -> None:
        probes.append(time.monotonic())
        if time.monotonic() < storm_until:
            raise RateLimitedError("HTTP 429")

    cadence = quick_cadence()
    cadence.attach(probe=probe)
    cadence.note_throttle()
    assert cadence.mode is Mode.NORMAL  # one refusal is not sustained throttling
    time.sleep(0.25)
    cadence.note_throttle()
    assert cadence.mode is Mode.DEGRADED
    started = time.monotonic()
    cadence.wait_for_next_round(threading.Event(), round_started=started)
    assert cadence.mode is Mode.NORMAL
    assert time.monotonic() - storm_until < 0.5  # back soon after the storm, not in 300 s
    assert any(t < storm_until for t in probes)  # probes kept failing during the storm
    assert [mode for _, mode in cadence.transitions] == [Mode.DEGRADED, Mode.NORMAL]


def test_degraded_rounds_run_every_cycle_without_a_probe() -> None:
    cadence = quick_cadence(degraded_cycle_seconds=0.3, degrade_after_seconds=0.0)
    cadence.note_throttle()
    assert cadence.mode is Mode.DEGRADED
    started = time.monotonic()
    cadence.wait_for_next_round(threading.Event(), round_started=started)
    assert 0.28 <= time.monotonic() - started < 1.0  # the coarse cycle
    cadence.after_round(throttled=False)  # a clean full round ends the degraded period
    assert cadence.mode is Mode.NORMAL


def test_throttled_rounds_back_off_up_to_the_cap() -> None:
    cadence = quick_cadence(poll_seconds=0.01, max_backoff_seconds=0.08)
    for _ in range(5):
        cadence.after_round(throttled=True)
    assert cadence.next_delay == pytest.approx(0.08)
    cadence.after_round(throttled=False)
    assert cadence.next_delay == pytest.approx(0.01)


def test_a_429_storm_degrades_the_follow_loop_which_recovers_without_losing_records(
    simulator: RunningSimulator,
    app_settings: Settings,
    client_factory: Callable[..., JushuitanClient],
) -> None:
    backfill_orders(simulator.store, hours=6, orders_per_hour=60)
    producer = InMemoryProducer()
    source = JushuitanSource(client_factory(max_attempts=3))
    cadence = quick_cadence(poll_seconds=0.05, degrade_after_seconds=0.5, probe_seconds=0.2)
    stop = threading.Event()
    streams = ["shop", "inventory", "outbound", "refund", "aftersale_received"]
    worker = threading.Thread(
        target=run_sync,
        args=(app_settings, streams, True, stop),
        kwargs={"producer": producer, "source": source, "cadence": cadence},
    )
    simulator.gateway.start_storm(1.5)
    storm_end = time.monotonic() + 1.5
    worker.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if [m for _, m in cadence.transitions] == [Mode.DEGRADED, Mode.NORMAL]:
            break
        time.sleep(0.05)
    recovered_after = cadence.transitions[-1][0] - storm_end
    time.sleep(1.0)  # a normal round or two after recovery
    stop.set()
    worker.join(timeout=10)
    assert [m for _, m in cadence.transitions] == [Mode.DEGRADED, Mode.NORMAL]
    assert recovered_after < 3.0
    erp = {(row["io_id"],): row["ts"] for row in simulator.store.rows("outbound")}
    produced = latest_by_key(producer.on_topic("erp.ods.outbound"), ("io_id",))
    assert {key: value["ts"] for key, value in produced.items()} == erp
    rows = {row.stream: row for row in sync_status(app_settings)}
    assert rows["outbound"].records_produced >= len(erp)
    assert rows["outbound"].pending_retry_windows == 0
    table = format_status(list(rows.values()), quota_usage(app_settings))
    assert "outbound" in table and "cadence normal" in table
    assert (state_directory(app_settings) / "quota-usage.json").exists()
