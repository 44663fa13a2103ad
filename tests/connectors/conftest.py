"""Fixtures for connector tests: an in-process simulator, settings pointing at it, fakes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from common.settings import (
    JushuitanSettings,
    KafkaSettings,
    Settings,
    load_settings,
)
from connectors.jushuitan.client import JushuitanClient
from connectors.jushuitan.quota import QuotaBudget
from connectors.jushuitan.source import JushuitanSource
from connectors.kafka_producer import InMemoryProducer
from connectors.state import CursorStore
from erp_simulator import RunningSimulator


class RecordedSleeps(list[float]):
    """A ``sleep`` that records instead of sleeping (retries run instantly)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class NoWaitBudget(QuotaBudget):
    """Counts throttling but never blocks: the recorded sleeps stand for real waits."""

    def __init__(self) -> None:
        super().__init__(0.0, 0, 0, safety_margin_seconds=0.0)

    def note_throttled(self, retry_after_seconds: float) -> None:
        self.throttled_count += 1


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


def fast_client(
    simulator: RunningSimulator, sleeps: Callable[[float], None] | None = None, **changes: Any
) -> JushuitanClient:
    client_options = {
        k: changes.pop(k) for k in list(changes) if k in ("max_attempts", "clock", "token_path")
    }
    settings: JushuitanSettings = simulator.jushuitan_settings(
        min_call_interval_seconds=0.0, **changes
    )
    return JushuitanClient(
        settings,
        budget=NoWaitBudget(),
        sleep=sleeps if sleeps is not None else (lambda seconds: None),
        **client_options,
    )


@pytest.fixture
def client_factory(
    simulator: RunningSimulator, sleeps: RecordedSleeps
) -> Iterator[Callable[..., JushuitanClient]]:
    """``client_factory(app_secret=..., max_attempts=..., clock=...)`` -> a fast client."""
    made: list[JushuitanClient] = []

    def make(**changes: Any) -> JushuitanClient:
        api = fast_client(changes.pop("simulator", simulator), sleeps, **changes)
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


@pytest.fixture
def client(client_factory: Callable[..., JushuitanClient]) -> JushuitanClient:
    return client_factory()


@pytest.fixture
def source(client: JushuitanClient) -> JushuitanSource:
    return JushuitanSource(client)


@pytest.fixture
def producer() -> InMemoryProducer:
    return InMemoryProducer()


@pytest.fixture
def store(tmp_path: Path) -> CursorStore:
    return CursorStore(tmp_path / "state")


@pytest.fixture
def app_settings(simulator: RunningSimulator, tmp_path: Path) -> Settings:
    """Full settings: Jushuitan at the simulator, state under tmp_path, small pages."""
    settings = load_settings()
    return settings.model_copy(
        update={
            "jushuitan": simulator.jushuitan_settings(
                min_call_interval_seconds=0.0,
                page_size=15,
                poll_interval_seconds=0.05,
                requests_per_second=10_000,
                requests_per_minute=1_000_000,
                quota_ledger_dir=tmp_path / "quota",  # no calls of an earlier test's port
            ),
            "paths": settings.paths.model_copy(update={"run_dir": tmp_path / "run"}),
        }
    )


@pytest.fixture
def kafka_settings(kafka_broker: Settings) -> KafkaSettings:
    """The real broker of tests/conftest.py's ``kafka_broker``, as KafkaSettings."""
    return kafka_broker.kafka
