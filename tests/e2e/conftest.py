"""The whole single-machine stack, started once for the e2e session exactly as `erpbi up` does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from clickhouse_connect.driver.client import Client

from common.settings import PROJECT_ROOT, Settings
from erp_simulator.control import SimulatorControl
from erpbi import stack
from testkit.chat_receivers import ChatReceivers
from testkit.support import isolated_settings
from warehouse.client import connect

OWNER_LOGINS = {"alice": "alice-e2e-pw", "bob": "bob-e2e-pw"}
# The history starts 9 days back: yesterday's week-over-week has its base.
SCREENS_LANDING_SECONDS = 600.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Drills (a 429 storm, the Flink job stopped and restarted) run after every other
    test, so no screen or alert test reads a stack still recovering from one; the cluster
    profile's tests run last of all (they stop the shared stack: two cannot share 2 cores)."""
    items.sort(key=lambda item: (item.get_closest_marker("cluster") is not None,
                                 item.get_closest_marker("drill") is not None))  # fmt: skip


SHORTER_FOR = {"stream_freshness": "15s", "flink_job_down": "15s"}


def e2e_rules_dir(folder: Path) -> Path:
    """The repo's Prometheus rules with shorter `for` on the alerts the e2e tests wait for
    (a stopped pipeline pages in about two minutes instead of four)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in (PROJECT_ROOT / "monitoring" / "rules").glob("*.yml"):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in document["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") in SHORTER_FOR:
                    rule["for"] = SHORTER_FOR[rule["alert"]]
        (folder / path.name).write_text(yaml.safe_dump(document, allow_unicode=True))
    return folder


# Secrets unlike any default and each other, so that a test can tell where each went
# (test_service_secrets); the warehouse password has the characters a URL must escape.
E2E_SECRETS = {
    "clickhouse": "e2e-warehouse/pw@7",
    "admin": "e2e-admin-pw-3c9",
    "superset": "e2e-superset-key-5a1",
    "app": "e2e-app-secret-8d2",
}


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
        # Two of the sheet's three owners have logins (test_metrics.OWNERS); carol has none.
        clickhouse={"shop_owners": dict(OWNER_LOGINS), "password": E2E_SECRETS["clickhouse"]},
        superset={"admin_password": E2E_SECRETS["admin"], "secret_key": E2E_SECRETS["superset"]},
        jushuitan={"app_secret": E2E_SECRETS["app"]},
        monitoring={"rules_dir": e2e_rules_dir(run_dir.parent / "rules")},
    )


@pytest.fixture(scope="session")
def running_stack(stack_settings: Settings) -> Iterator[Settings]:
    lines: list[str] = []
    try:
        stack.up(stack_settings, report=lines.append)
        yield stack_settings
    finally:
        stack.down(stack_settings, report=lines.append)


@pytest.fixture(scope="module")
def receivers() -> Iterator[ChatReceivers]:
    """Local stand-ins for the chat vendors (testkit/chat_receivers.py), one per module."""
    with ChatReceivers() as running:
        yield running


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


def screens_landed(warehouse: Client) -> bool:
    """Today's and 8 days ago's outbound, today's stock and a forecast are being served."""
    row = warehouse.query(
        "SELECT (SELECT countIf(day = toDate(now(), 'Asia/Shanghai')) > 0 "
        "        AND countIf(day = toDate(now(), 'Asia/Shanghai') - 8) > 0 "
        "        FROM metric_outbound_daily), "
        "(SELECT count() > 0 FROM metric_inventory_warehouse), "
        "(SELECT count() = 24 FROM metric_outbound_forecast), "
        "(SELECT count() > 0 FROM metric_aftersale_daily)"
    ).result_rows[0]
    return all(row)


@pytest.fixture(scope="session")
def screens_ready(running_stack: Settings, warehouse: Client) -> Settings:
    """The stack, once the warehouse serves what every screen shows."""
    from test_inventory_slice import poll

    from warehouse.forecast import job as forecast_job

    assert poll(lambda: screens_landed(warehouse), SCREENS_LANDING_SECONDS, interval=2.0), (
        "the warehouse never served today's outbound, stock and forecast"
    )
    # The forecaster's first run may have seen a half-loaded history: forecast again from
    # the landed days, as its next scheduled run would.
    forecast_job.run_once(warehouse)
    return running_stack
