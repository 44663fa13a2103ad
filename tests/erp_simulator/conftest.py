"""Simulators with a history of orders and after-sales, for the document API tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sim_support import RawCaller

from common.settings import SimulatorSettings
from erp_simulator import RunningSimulator, SimulatorControl, start_simulator
from erp_simulator.engine import TrafficSettings
from erp_simulator.gateway import SimulatorConfig

HISTORY = SimulatorSettings(seed=11, sku_count=300, warehouse_count=2, enforce_quota=False)


@pytest.fixture
def history_factory() -> Iterator[Callable[..., RunningSimulator]]:
    started: list[RunningSimulator] = []

    def start(
        settings: SimulatorSettings = HISTORY,
        traffic: TrafficSettings | None = None,
        live_orders_per_hour: float = 0.0,
        **config: Any,
    ) -> RunningSimulator:
        base = SimulatorConfig(enforce_quota=settings.enforce_quota)
        for name, value in config.items():
            setattr(base, name, value)
        simulator = start_simulator(
            settings,
            port=0,
            config=base,
            traffic=traffic or TrafficSettings(backfill_days=5.0, orders_per_hour=40),
            live_orders_per_hour=live_orders_per_hour,
        )
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


@pytest.fixture(scope="session")
def busy() -> Iterator[RunningSimulator]:
    """300 SKUs x 2 warehouses with five days of orders, after-sales and receipts; quota off.

    Shared by the whole session: tests that change the ERP use ``history_factory``.
    """
    simulator = start_simulator(
        HISTORY,
        port=0,
        config=SimulatorConfig(enforce_quota=False),
        traffic=TrafficSettings(backfill_days=5.0, orders_per_hour=40),
    )
    yield simulator
    simulator.stop()


@pytest.fixture
def busy_raw(busy: RunningSimulator) -> RawCaller:
    caller = RawCaller(busy)
    caller.login()
    return caller


@pytest.fixture
def busy_control(busy: RunningSimulator) -> Iterator[SimulatorControl]:
    client = SimulatorControl(busy.url)
    yield client
    client.close()
