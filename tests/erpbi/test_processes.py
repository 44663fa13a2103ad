"""A stale pid file never reaches a process that is not ours.

After a crash or a reboot the kernel may give a service's old pid to an unrelated
process; `erpbi down` (and `up`, which checks what runs) must leave that one alone.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from erpbi.processes import ManagedProcess, pid_alive, start_ticks

pytestmark = pytest.mark.unit


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated process leading its own group, as a service would."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                               start_new_session=True)  # fmt: skip
    yield process
    process.kill()
    process.wait()


def managed(tmp_path: Path) -> ManagedProcess:
    return ManagedProcess("service", tmp_path / "pids", tmp_path / "logs")


def test_a_pid_file_naming_a_reused_pid_is_not_signalled(
    tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    process = managed(tmp_path)
    process.pids_dir.mkdir()
    started = start_ticks(stranger.pid)
    assert started is not None
    # the file's process started at another time: the pid was reused by the stranger
    process.pid_file.write_text(f"{stranger.pid} {started - 1}\n")
    assert process.pid() is None and not process.is_running()
    assert process.stop() is False
    process.kill()
    assert pid_alive(stranger.pid), "a stale pid file killed an unrelated process"
    assert not process.pid_file.exists(), "the stale pid file was kept"


def test_an_old_style_pid_file_counts_only_a_group_leader(tmp_path: Path) -> None:
    process = managed(tmp_path)
    process.pids_dir.mkdir()
    member = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        process.pid_file.write_text(f"{member.pid}\n")  # pid only, in this test's own group
        assert process.pid() is None
        process.kill()
        assert pid_alive(member.pid)
    finally:
        member.kill()
        member.wait()


def test_a_started_service_is_recognised_and_stopped(tmp_path: Path) -> None:
    process = managed(tmp_path)
    pid = process.start([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process.pid() == pid and process.is_running()
        assert process.pid_file.read_text().split() == [str(pid), str(start_ticks(pid))]
        assert process.start(["false"]) == pid  # a running one is left alone
    finally:
        assert process.stop(timeout=5.0) is True
    assert not pid_alive(pid)
