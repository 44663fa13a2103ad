from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.errors import (
    FatalApiError,
    FatalParameterError,
    RateLimitedError,
    RetriableApiError,
)
from connectors.jushuitan.client import JushuitanClient
from connectors.jushuitan.quota import QuotaBudget
from erp_simulator import RunningSimulator, SimulatorControl

pytestmark = pytest.mark.unit

INVENTORY = "/open/inventory/query"


def test_first_call_obtains_a_token_and_returns_data(
    client: JushuitanClient, simulator: RunningSimulator, control: SimulatorControl
) -> None:
    data = client.call(
        INVENTORY, {"page_index": 1, "page_size": 10, "wms_co_id": simulator.store.warehouse_ids[0]}
    )
    assert len(data["inventorys"]) == 10
    assert data["has_next"] is True
    assert control.state()["requests_by_path"]["/openWeb/auth/getInitToken"] == 1


def test_wrong_secret_is_fatal_code_10(client_factory: Callable[..., JushuitanClient]) -> None:
    bad = client_factory(app_secret=SecretStr("not-the-secret"))
    with pytest.raises(FatalApiError) as caught:
        bad.call(INVENTORY, {})
    assert caught.value.code == 10


def test_expired_token_is_refreshed_once_then_retried(
    client: JushuitanClient, control: SimulatorControl
) -> None:
    client.call(INVENTORY, {"page_size": 1})
    assert control.expire_tokens() == 1
    client.call(INVENTORY, {"page_size": 1})
    state = control.state()
    assert state["requests_by_path"]["/openWeb/auth/refreshToken"] == 1
    assert state["replies_by_code"]["100"] == 1


def test_refresh_refused_falls_back_to_a_new_initial_token(
    client: JushuitanClient, control: SimulatorControl
) -> None:
    client.call(INVENTORY, {"page_size": 1})
    control.expire_tokens()
    control.inject_fault(path="/openWeb/auth/refreshToken", code=150)
    client.call(INVENTORY, {"page_size": 1})
    assert control.state()["requests_by_path"]["/openWeb/auth/getInitToken"] == 2


def test_token_rejected_twice_is_fatal(client: JushuitanClient, control: SimulatorControl) -> None:
    client.call(INVENTORY, {"page_size": 1})
    control.inject_fault(path=INVENTORY, code=100, count=2)
    with pytest.raises(FatalApiError):
        client.call(INVENTORY, {"page_size": 1})


def test_http_500_is_retried_with_backoff(
    client: JushuitanClient, control: SimulatorControl, sleeps: list[float]
) -> None:
    control.inject_fault(path=INVENTORY, http_status=500, count=3)
    assert client.call(INVENTORY, {"page_size": 2})["inventorys"]
    assert len(sleeps) == 3
    assert all(0 < wait <= 30.0 for wait in sleeps)


def test_http_429_honours_retry_after(
    client: JushuitanClient, control: SimulatorControl, sleeps: list[float]
) -> None:
    control.inject_fault(path=INVENTORY, http_status=429, retry_after=4, count=1)
    client.call(INVENTORY, {"page_size": 2})
    assert sleeps and sleeps[0] >= 4.0
    assert client.budget.throttled_count == 1


def test_quota_code_199_backs_off_then_succeeds(
    client: JushuitanClient, control: SimulatorControl, sleeps: list[float]
) -> None:
    control.inject_fault(path=INVENTORY, code=199, count=2)
    client.call(INVENTORY, {"page_size": 2})
    assert len(sleeps) == 2 and min(sleeps) >= 1.0


def test_retries_are_capped(
    client_factory: Callable[..., JushuitanClient], control: SimulatorControl, sleeps: list[float]
) -> None:
    capped = client_factory(max_attempts=3)
    control.inject_fault(path=INVENTORY, http_status=503, count=10)
    with pytest.raises(RetriableApiError):
        capped.call(INVENTORY, {"page_size": 2})
    assert len(sleeps) == 2


def test_rate_limit_exhaustion_raises_rate_limited(
    client_factory: Callable[..., JushuitanClient], control: SimulatorControl
) -> None:
    capped = client_factory(max_attempts=2)
    control.inject_fault(path=INVENTORY, code=200, count=5)
    with pytest.raises(RateLimitedError):
        capped.call(INVENTORY, {"page_size": 2})


def test_parameter_error_is_fatal(client: JushuitanClient) -> None:
    with pytest.raises(FatalParameterError) as caught:
        client.call(INVENTORY, {"page_size": 101})
    assert caught.value.code == 130


def test_clock_skew_is_retried_then_given_up(
    client_factory: Callable[..., JushuitanClient], sleeps: list[float]
) -> None:
    skewed = client_factory(max_attempts=2, clock=lambda: time.time() - 3600)
    with pytest.raises(RetriableApiError) as caught:
        skewed.call(INVENTORY, {})
    assert caught.value.code == 140


def test_secrets_never_reach_the_log(
    client: JushuitanClient, control: SimulatorControl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.call(INVENTORY, {"page_size": 1})
    control.expire_tokens()
    control.inject_fault(path=INVENTORY, http_status=500)
    client.call(INVENTORY, {"page_size": 1})
    secrets = [
        client.settings.app_secret.get_secret_value(),
        client._access_token,
        client._refresh_token,
    ]
    assert all(secret and secret not in caplog.text for secret in secrets)
    assert "sign=" not in caplog.text


def test_token_is_saved_and_reused(
    client_factory: Callable[..., JushuitanClient], control: SimulatorControl, tmp_path: Path
) -> None:
    token_path = tmp_path / "token.json"
    client_factory(token_path=token_path).call(INVENTORY, {"page_size": 1})
    assert oct(token_path.stat().st_mode & 0o777) == "0o600"
    client_factory(token_path=token_path).call(INVENTORY, {"page_size": 1})
    assert control.state()["requests_by_path"]["/openWeb/auth/getInitToken"] == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make_budget(clock: FakeClock, **options: Any) -> QuotaBudget:
    return QuotaBudget(clock=clock, sleep=clock.sleep, safety_margin_seconds=0.0, **options)


def test_budget_keeps_the_minimum_interval() -> None:
    clock = FakeClock()
    budget = make_budget(
        clock, min_interval_seconds=0.26, requests_per_second=0, requests_per_minute=0
    )
    for _ in range(4):
        budget.acquire()
    assert clock.slept == pytest.approx([0.26, 0.26, 0.26])


def test_budget_enforces_per_second_and_per_minute_windows() -> None:
    clock = FakeClock()
    budget = make_budget(
        clock, min_interval_seconds=0.0, requests_per_second=5, requests_per_minute=8
    )
    stamps = []
    for _ in range(10):
        budget.acquire()
        stamps.append(clock.now)
    assert stamps[4] - stamps[0] < 1.0 and stamps[5] - stamps[0] >= 1.0
    assert stamps[8] - stamps[0] >= 60.0


def test_budget_holds_callers_back_after_throttling() -> None:
    clock = FakeClock()
    budget = make_budget(
        clock, min_interval_seconds=0.0, requests_per_second=0, requests_per_minute=0
    )
    budget.note_throttled(15.0)
    assert budget.acquire() == pytest.approx(15.0)


def test_requests_without_retry_after_use_capped_exponential_backoff(
    client_factory: Callable[..., JushuitanClient],
    control: SimulatorControl,
    sleeps: list[float],
) -> None:
    api = client_factory(max_attempts=8)
    control.inject_fault(path=INVENTORY, http_status=502, count=7)
    api.call(INVENTORY, {"page_size": 1})
    assert len(sleeps) == 7
    assert max(sleeps) <= 30.0
    assert sleeps[-1] > sleeps[0]
