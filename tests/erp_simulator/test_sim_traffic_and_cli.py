"""Live traffic moves the ERP; the CLI drives a running simulator; pages stay fast."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sim_support import OUTBOUND, RawCaller

from common.settings import SimulatorSettings
from connectors.models import BEIJING
from erp_simulator import RunningSimulator, SimulatorControl
from erp_simulator.cli import build_parser, main
from erp_simulator.engine import TrafficSettings
from erp_simulator.server import build_business

pytestmark = pytest.mark.unit

FLAT = TrafficSettings(backfill_days=0, follow_curve=False)


def test_traffic_is_off_unless_started(history_factory: Callable[..., RunningSimulator]) -> None:
    simulator = history_factory(traffic=FLAT)
    top = simulator.store.max_ts()
    time.sleep(0.5)
    assert simulator.store.max_ts() == top
    assert not SimulatorControl(simulator.url).traffic()["running"]


def test_live_traffic_writes_new_rows_with_higher_ts_and_pauses(
    history_factory: Callable[..., RunningSimulator],
) -> None:
    simulator = history_factory(traffic=FLAT)
    control = SimulatorControl(simulator.url)
    top = simulator.store.max_ts()
    control.start_traffic(orders_per_hour=36_000)  # ten orders a second
    deadline = time.monotonic() + 5
    while len(simulator.store.outbound) < 10 and time.monotonic() < deadline:
        time.sleep(0.1)
    control.stop_traffic()
    new = control.rows("outbound", since_ts=top)
    assert len(new) >= 10 and all(row["ts"] > top for row in new)
    assert all(row["status"] == "WaitConfirm" or row["ts"] > top for row in new)
    stopped_at = simulator.store.max_ts()
    time.sleep(0.5)
    assert simulator.store.max_ts() == stopped_at, "stopped traffic writes nothing"
    state = control.traffic()
    assert state["counts"]["orders"] == len(simulator.store.outbound)
    control.close()


def test_start_simulator_can_start_with_live_traffic(
    history_factory: Callable[..., RunningSimulator],
) -> None:
    simulator = history_factory(traffic=FLAT, live_orders_per_hour=36_000)
    caller = RawCaller(simulator)
    caller.login()
    deadline = time.monotonic() + 5
    while not caller.data(OUTBOUND, {})["datas"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert caller.data(OUTBOUND, {})["datas"]


def test_promotion_raises_the_live_rate(history_factory: Callable[..., RunningSimulator]) -> None:
    simulator = history_factory(traffic=FLAT)
    control = SimulatorControl(simulator.url)
    control.start_traffic(orders_per_hour=10)
    state = control.start_promotion(50_000, duration_seconds=60)
    assert state["current_rate"] == 50_000
    time.sleep(1.0)
    control.stop_promotion()
    control.stop_traffic()
    assert len(simulator.store.outbound) >= 5  # ~14 a second while it ran
    assert control.traffic()["current_rate"] == 10
    control.close()


def run_cli(url: str, *argv: str, capsys: pytest.CaptureFixture[str]) -> object:
    assert main(["--url", url, *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_commands(
    history_factory: Callable[..., RunningSimulator], capsys: pytest.CaptureFixture[str]
) -> None:
    simulator = history_factory(traffic=FLAT)
    url = simulator.url
    state = run_cli(url, "state", capsys=capsys)
    assert isinstance(state, dict) and state["sku_count"] == 300
    sku_id = simulator.store.sku_rows()[0]["sku_id"]
    row = run_cli(url, "set-stock", sku_id, "10200001", "7", capsys=capsys)
    assert isinstance(row, dict) and row["qty"] == 7
    made = run_cli(url, "generate-orders", "4", "--settle-seconds", "864000", capsys=capsys)
    assert isinstance(made, dict) and len(made["io_ids"]) == 4
    assert run_cli(url, "rows", "outbound", capsys=capsys)["count"] == 4  # type: ignore[index]
    run_cli(url, "faults", "add", "--http-status", "503", "--count", "2", capsys=capsys)
    assert simulator.gateway.state()["faults_pending"][0]["count"] == 2
    run_cli(url, "faults", "clear", capsys=capsys)
    storm = run_cli(url, "storm", "--seconds", "30", capsys=capsys)
    assert isinstance(storm, dict) and storm["active"]
    run_cli(url, "faults", "clear", capsys=capsys)
    run_cli(url, "traffic", "start", "--orders-per-hour", "100", capsys=capsys)
    assert simulator.traffic.running
    run_cli(
        url, "promotion", "start", "--orders-per-hour", "20000", "--minutes", "1", capsys=capsys
    )
    run_cli(url, "promotion", "stop", capsys=capsys)
    run_cli(url, "traffic", "stop", capsys=capsys)
    assert not simulator.traffic.running
    touched = run_cli(url, "touch", "inventory", f"10200001,{sku_id}", "--offset", "-60",
                      capsys=capsys)  # fmt: skip
    assert isinstance(touched, dict) and touched["qty"] == 7


def test_cli_parser_and_unreachable_simulator(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser("erpbi simulator")
    args = parser.parse_args(["storm", "--seconds", "5"])
    assert args.command == "storm" and args.seconds == 5
    assert main(["--url", "http://127.0.0.1:9", "state"]) == 3


def test_pages_are_fast_with_30000_skus_and_a_peak_hour_of_orders() -> None:
    now = datetime(2026, 7, 20, 21, 0, tzinfo=BEIJING)
    settings = SimulatorSettings(seed=3, sku_count=30_000, warehouse_count=4)
    store, engine = build_business(settings, TrafficSettings(backfill_days=0), now=now)
    engine.now = engine.floor = engine.searched_to = now - timedelta(minutes=30)
    engine.start_promotion(50_000, engine.now)
    engine.run_until(now)
    assert len(store.outbound) > 20_000
    middle = sorted(row["ts"] for row in store.outbound.rows.values())[len(store.outbound) // 2]
    outbound = store.routes[OUTBOUND]
    queries = [
        (outbound, {"start_ts": middle, "page_size": 50, "is_get_total": False}),
        (outbound, {"start_ts": middle, "page_size": 50}),
        (outbound, {"page_size": 50, "shop_id": store.shops[0]["shop_id"], "start_ts": 0}),
        (store.query_inventory, {"wms_co_id": 10200001, "ts": middle, "page_size": 100}),
        (store.query_inventory, {"wms_co_id": 0, "page_size": 100}),
        (store.query_skus, {"page_size": 50}),
    ]
    for query, params in queries:
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            query(params)
            timings.append(time.perf_counter() - started)
        assert statistics.median(timings) < 0.05, (params, timings)
