"""Shared fixtures: settings on free ports in a temp run folder, and real services.

Every service a test needs is started here for real (Kafka broker, the
ClickHouse HTTP server on chDB, Flink, Superset) with readiness polling, and
stopped as a whole process group afterwards. Markers follow the folder:
tests/e2e -> e2e, everything else is unit unless marked integration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from common.settings import ClickHouseSettings, KafkaSettings, Settings
from erpbi import stack
from erpbi.services import by_name
from testkit.support import isolated_settings

pytest_plugins = ["simulator_fixtures"]


# Fixtures that start a real service: a test using one is an integration test.
SERVICE_FIXTURES = frozenset({"kafka_broker", "clickhouse_server", "secured", "job_settings"})
_unit_test_running: list[str] = []  # the node id of the unit test being set up or run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
        elif SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            if not any(item.iter_markers("integration")):
                item.add_marker(pytest.mark.integration)
        elif not any(any(item.iter_markers(name)) for name in ("integration", "e2e")):
            item.add_marker(pytest.mark.unit)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _unit_test_running[:] = [item.nodeid] if any(item.iter_markers("unit")) else []


def _no_service_in_a_unit_test(start: Callable[..., Any]) -> Callable[..., Any]:
    """`scripts/test.sh -m unit` needs no service: a unit test that starts one fails."""

    def guarded(settings: Settings, service: Any, *args: Any, **kwargs: Any) -> Any:
        if _unit_test_running:
            raise RuntimeError(
                f"{_unit_test_running[0]} is a unit test but starts {service.name}: "
                "mark it integration"
            )
        return start(settings, service, *args, **kwargs)

    return guarded


stack.start_service = _no_service_in_a_unit_test(stack.start_service)  # type: ignore[assignment]


@pytest.fixture(scope="session")
def services_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return isolated_settings(tmp_path_factory.mktemp("services") / "run")


def _start(settings: Settings, names: list[str]) -> None:
    for name in names:
        stack.start_service(settings, by_name(name), report=lambda line: None)


@pytest.fixture(scope="session")
def kafka_broker(services_settings: Settings) -> Iterator[Settings]:
    """A real Kafka broker (KRaft) for the whole session."""
    _start(services_settings, ["kafka"])
    yield services_settings
    stack.down(services_settings, ["kafka"], report=lambda line: None)


@pytest.fixture(scope="session")
def kafka_settings(kafka_broker: Settings) -> KafkaSettings:
    return kafka_broker.kafka


@pytest.fixture(scope="session")
def clickhouse_server(services_settings: Settings) -> Iterator[Settings]:
    """The single-machine ClickHouse server (chDB over HTTP), migrated, for the session."""
    _start(services_settings, ["clickhouse"])
    yield services_settings
    stack.down(services_settings, ["clickhouse"], report=lambda line: None)


@pytest.fixture(scope="session")
def clickhouse_settings(clickhouse_server: Settings) -> ClickHouseSettings:
    return clickhouse_server.clickhouse
