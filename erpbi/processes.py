"""Detached service processes with pid files, one log file each, and group kill.

Every service runs in its own process group (``start_new_session``) so that a
stop reaches the JVMs and Python workers it spawned: no orphans after ``down``.

A pid file holds the pid and the process's start time (``/proc/<pid>/stat`` field 22).
A pid is signalled only while both still match: after a reboot or a crash the kernel
may have given the pid to an unrelated process, which a stale file must not reach.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ManagedProcess:
    """A named background process whose pid lives in ``pids_dir/<name>.pid``."""

    name: str
    pids_dir: Path
    logs_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.pids_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.logs_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of the file while it is still the process this file started, else None."""
        try:
            fields = self.pid_file.read_text().split()
            pid = int(fields[0])
            started = int(fields[1]) if len(fields) > 1 else None
        except (FileNotFoundError, ValueError, IndexError):
            return None
        return pid if is_our_process(pid, started) else None

    def is_running(self) -> bool:
        pid = self.pid()
        return pid is not None and pid_alive(pid)

    def start(
        self,
        command: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> int:
        """Start the command detached; returns its pid. A running one is left alone."""
        existing = self.pid()
        if existing is not None and pid_alive(existing):
            return existing
        self.pids_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        # Settings reach a service only through ``env``: an ERPBI_* secret exported in the
        # shell that runs `erpbi up` must not reach every service.
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("ERPBI_")}
        if env:
            full_env.update(env)
        with open(self.log_file, "ab") as log:
            log.write(f"\n--- start {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
            log.flush()
            process = subprocess.Popen(
                list(command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=str(cwd) if cwd else None,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{process.pid} {start_ticks(process.pid)}\n")
        return process.pid

    def stop(self, timeout: float = 20.0) -> bool:
        """SIGTERM the process group, SIGKILL it after ``timeout``. True if it was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)  # absent, or naming a process not ours
            return False
        was_running = pid_alive(pid)
        if was_running:
            signal_group(pid, signal.SIGTERM)
            if not wait_until(lambda: not group_alive(pid), timeout):
                signal_group(pid, signal.SIGKILL)
                wait_until(lambda: not group_alive(pid), 10.0)
        self.pid_file.unlink(missing_ok=True)
        return was_running

    def kill(self) -> None:
        """SIGKILL the whole group at once (crash tests)."""
        pid = self.pid()
        if pid is not None:
            signal_group(pid, signal.SIGKILL)
            wait_until(lambda: not group_alive(pid), 10.0)
            self.pid_file.unlink(missing_ok=True)


def start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (None: no such process)."""
    stat = _stat_fields(pid)
    return int(stat[19]) if stat else None


def is_our_process(pid: int, started: int | None) -> bool:
    """``pid`` is still the process started at ``started`` ticks. A file written before
    start times were recorded (``started`` None) counts only a process-group leader, as
    every service is: a reused pid rarely is one."""
    stat = _stat_fields(pid)
    if stat is None:
        return False
    if started is None:
        return int(stat[2]) == pid
    return int(stat[19]) == started


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return any(not _is_zombie(pid) for pid in _group_members(pgid))


def signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
    try:
        os.kill(pgid, sig)
    except ProcessLookupError:
        pass
    # Reap our own child if it was started by this interpreter.
    try:
        os.waitpid(pgid, os.WNOHANG)
    except ChildProcessError:
        pass


def _is_zombie(pid: int) -> bool:
    stat = _stat_fields(pid)
    if stat is None:
        return False
    if stat[0] == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return True
    return False


def _group_stats(pgid: int) -> dict[int, list[str]]:
    """pid -> the fields of /proc/<pid>/stat after the command name, for the group."""
    members = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # stat field 5, the process group
            members[int(entry.name)] = fields
    return members


def _group_members(pgid: int) -> list[int]:
    return list(_group_stats(pgid))


def cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) the group's live processes have used (for benchmarks)."""
    ticks = sum(int(f[11]) + int(f[12]) for f in _group_stats(pgid).values())
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass (readiness, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def resident_memory_mb(pgid: int) -> float:
    """Resident memory of every process in the group, in MiB (for status and benchmarks)."""
    total_kb = 0
    for pid in _group_members(pgid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024.0
