"""In-process ERP simulators for the connector and simulator tests (a pytest plugin, named
in tests/conftest.py): ``simulator_factory``, ``simulator`` and its ``control`` client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from common.settings import SimulatorSettings
from erp_simulator import RunningSimulator, SimulatorControl, start_simulator
from erp_simulator.gateway import SimulatorConfig

SMALL = SimulatorSettings(seed=7, sku_count=40, warehouse_count=2, enforce_quota=False)


@pytest.fixture
def simulator_factory() -> Iterator[Callable[..., RunningSimulator]]:
    started: list[RunningSimulator] = []

    def start(settings: SimulatorSettings = SMALL, **config: Any) -> RunningSimulator:
        base = SimulatorConfig(enforce_quota=settings.enforce_quota)
        for name, value in config.items():
            setattr(base, name, value)
        simulator = start_simulator(settings, port=0, config=base)
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


@pytest.fixture
def simulator(simulator_factory: Callable[..., RunningSimulator]) -> RunningSimulator:
    """40 SKUs x 2 warehouses, quota off."""
    return simulator_factory()


@pytest.fixture
def control(simulator: RunningSimulator) -> Iterator[SimulatorControl]:
    client = SimulatorControl(simulator.url)
    yield client
    client.close()
