"""Two connector processes on one app key: one quota between them, none of it wasted.

The simulator runs as its own process with the real quota enforced (5/s, 100/min, codes
199/200); two ``python -m connectors sync --follow`` processes with their own state
folders (so both have a whole first load to do) share one ledger folder, as two
processes of one machine do by default.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from erp_simulator.control import SimulatorControl
from erpbi.processes import wait_until
from testkit.support import free_port

pytestmark = pytest.mark.integration

WINDOW_SECONDS = 300.0  # the five minutes
QUOTA_CODES = ("199", "200")


def _clean_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("ERPBI_")}


@pytest.fixture
def erp_process(tmp_path: Path) -> Iterator[SimulatorControl]:
    port = free_port()
    log = (tmp_path / "simulator.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "erp_simulator", "--port", str(port),
         "--sku-count", "10000", "--warehouses", "4", "--backfill-days", "0.5",
         "--log-level", "WARNING"],
        env=_clean_environment(), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    control = SimulatorControl(f"http://127.0.0.1:{port}")
    try:
        assert wait_until(lambda: _answers(control), 120, 0.2), "simulator never answered"
        yield control
    finally:
        control.close()
        process.terminate()
        process.wait(30)
        log.close()


def _answers(control: SimulatorControl) -> bool:
    try:
        control.state()
    except Exception:  # not listening yet
        return False
    return True


def _connector(tmp_path: Path, name: str, base_url: str) -> subprocess.Popen[bytes]:
    env = {
        **_clean_environment(),
        "ERPBI_JUSHUITAN__BASE_URL": base_url,
        "ERPBI_JUSHUITAN__QUOTA_LEDGER_DIR": str(tmp_path / "ledger"),
        "ERPBI_PATHS__RUN_DIR": str(tmp_path / name),
        "ERPBI_MONITORING__CONNECTOR_PORT": str(free_port()),  # not a running stack's
    }
    log = (tmp_path / f"{name}.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "connectors", "sync", "--follow", "--dry-run",
         "--log-level", "WARNING"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _usage(tmp_path: Path, name: str) -> dict[str, object]:
    path = tmp_path / name / "data" / "connectors" / "quota-usage.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _still_loading(tmp_path: Path, name: str) -> bool:
    path = tmp_path / name / "data" / "connectors" / "inventory.json"
    if not path.exists():
        return True
    return not (json.loads(path.read_text()).get("initial_load") or {}).get("done_ms")


def test_two_processes_on_one_app_key_draw_no_quota_error_and_use_the_whole_quota(
    tmp_path: Path, erp_process: SimulatorControl
) -> None:
    base_url = erp_process.base_url
    names = ("first", "second")
    processes = [_connector(tmp_path, name, base_url) for name in names]
    try:
        # The window opens once both have their token and are paging (both on the ledger).
        assert wait_until(
            lambda: all(_usage(tmp_path, name).get("calls_total", 0) >= 5 for name in names),
            60, 0.2,
        ), "the connectors never started paging"  # fmt: skip
        before, started = erp_process.state()["replies_by_code"], time.monotonic()
        deadline = started + WINDOW_SECONDS
        while time.monotonic() < deadline:
            assert all(p.poll() is None for p in processes), "a connector process died"
            wait_until(lambda: time.monotonic() >= deadline, 5.0, 0.5)
        after, ended = erp_process.state()["replies_by_code"], time.monotonic()
        assert all(_still_loading(tmp_path, name) for name in names), (
            "a process finished its backlog inside the window: the figure would not be "
            "quota-bound"
        )
        calls = {name: int(_usage(tmp_path, name).get("calls_total", 0)) for name in names}
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(60)
    refused = {code: after.get(code, 0) - before.get(code, 0) for code in QUOTA_CODES}
    assert refused == {"199": 0, "200": 0}
    accepted = after.get("0", 0) - before.get("0", 0)
    per_minute = accepted / ((ended - started) / 60)
    assert per_minute >= 95.0, f"{per_minute:.1f} calls/min of the 100 allowed"
    assert min(calls.values()) >= 0.25 * sum(calls.values()), calls  # both got their turn
    assert all(process.returncode == 0 for process in processes)
