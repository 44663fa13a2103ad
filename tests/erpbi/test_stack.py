"""`erpbi up/status/down` on real services: readiness, a harmless second up, no orphans."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.settings import PROJECT_ROOT, Settings
from erpbi import stack
from erpbi.processes import group_alive
from testkit.support import isolated_settings

pytestmark = pytest.mark.integration
SERVICES = ["clickhouse", "kafka", "simulator"]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = isolated_settings(tmp_path_factory.mktemp("stack") / "run")
    yield settings
    stack.down(settings, report=lambda line: None)


def erpbi(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "erpbi", *args],
        env={**settings.environment, "PATH": "/usr/bin:/bin"},
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_up_reports_addresses_and_logs_then_status_is_ready(settings: Settings) -> None:
    result = erpbi(settings, "up", *SERVICES)
    assert result.returncode == 0, result.stderr
    assert str(settings.paths.logs_dir) in result.stdout
    for service in SERVICES:
        assert f"{service} " in result.stdout
    assert f"127.0.0.1:{settings.kafka.port}" in result.stdout
    statuses = {row.name: row for row in stack.status(settings)}
    for service in SERVICES:
        assert statuses[service].ready, service
        assert statuses[service].rss_mb > 0
        assert Path(statuses[service].log_file).exists()


def test_second_up_is_harmless(settings: Settings) -> None:
    pids = {row.name: row.pid for row in stack.status(settings) if row.name in SERVICES}
    result = erpbi(settings, "up", *SERVICES)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("already running") == len(SERVICES)
    assert {row.name: row.pid for row in stack.status(settings) if row.name in SERVICES} == pids


def test_status_exit_code_says_whether_everything_is_ready(settings: Settings) -> None:
    result = erpbi(settings, "status")
    assert result.returncode == 3  # flink, connector, superset are not started here
    assert "ready" in result.stdout and "stopped" in result.stdout


def test_logs_command_shows_a_service_log(settings: Settings) -> None:
    result = erpbi(settings, "logs", "simulator", "-n", "5")
    assert result.returncode == 0
    assert result.stdout.strip()


def test_down_stops_every_process_of_every_service(settings: Settings) -> None:
    groups = [row.pid for row in stack.status(settings) if row.pid]
    assert groups
    result = erpbi(settings, "down")
    assert result.returncode == 0, result.stderr
    assert not any(group_alive(pgid) for pgid in groups)
    assert not any(row.running for row in stack.status(settings))
    assert not list(settings.paths.pids_dir.glob("*.pid"))


def test_config_masks_secrets(settings: Settings) -> None:
    secret_env = {**settings.environment, "ERPBI_JUSHUITAN__APP_SECRET": "very-secret-123"}
    result = subprocess.run(
        [sys.executable, "-m", "erpbi", "config"], env=secret_env, cwd=PROJECT_ROOT,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0
    assert "very-secret-123" not in result.stdout
    assert "**********" in result.stdout
