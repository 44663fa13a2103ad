"""The whole single-machine stack, started once for the e2e session exactly as `erpbi up` does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from support import isolated_settings

from common.settings import Settings
from connectors.simulator.control import SimulatorControl
from erpbi import stack
from warehouse.client import connect


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    run_dir: Path = tmp_path_factory.mktemp("e2e") / "run"
    return isolated_settings(
        run_dir,
        # Nine days at 13 orders/h: returns received and a backlog exist for the metric
        # suite, the screens' week-over-week has its base day, and the quota-bound initial
        # load stays at one day's worth of documents (as three days at 40/h did).
        simulator={
            "sku_count": 1000,
            "warehouse_count": 2,
            "backfill_days": 9,
            "orders_per_hour": 13,
        },
        flink={"checkpoint_interval_ms": 2000},
    )


@pytest.fixture(scope="session")
def running_stack(stack_settings: Settings) -> Iterator[Settings]:
    lines: list[str] = []
    try:
        stack.up(stack_settings, report=lines.append)
        yield stack_settings
    finally:
        stack.down(stack_settings, report=lines.append)


@pytest.fixture(scope="session")
def erp(running_stack: Settings) -> Iterator[SimulatorControl]:
    control = SimulatorControl(running_stack.jushuitan.base_url)
    yield control
    control.close()


@pytest.fixture(scope="session")
def warehouse(running_stack: Settings) -> Iterator[Client]:
    client = connect(running_stack.clickhouse)
    yield client
    client.close()
