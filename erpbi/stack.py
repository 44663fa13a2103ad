"""Bring the single-machine stack up and down, and report its health.

``up`` starts services in dependency order and waits for each one's readiness
check; a service already running is left alone, so a second ``up`` is harmless.
``down`` stops them in reverse order, each as a whole process group.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from common.settings import PROJECT_ROOT, Settings
from erpbi.processes import ManagedProcess, resident_memory_mb, wait_until
from erpbi.services import SERVICES, Service

Report = Callable[[str], None]


class ServiceStartError(RuntimeError):
    """A service did not become ready in time: read its log file named in the message."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    ready: bool
    pid: int | None
    rss_mb: float
    listens: str
    log_file: str


def process_for(settings: Settings, service: Service) -> ManagedProcess:
    return ManagedProcess(service.name, settings.paths.pids_dir, settings.paths.logs_dir)


def selected(settings: Settings, names: Iterable[str] | None) -> list[Service]:
    wanted = set(names) if names else None
    return [
        service
        for service in SERVICES
        if service.enabled(settings) and (wanted is None or service.name in wanted)
    ]


def start_service(settings: Settings, service: Service, report: Report) -> float:
    """Start one service (if not running) and wait until ready; returns seconds taken."""
    began = time.monotonic()
    process = process_for(settings, service)
    if process.is_running() and service.ready(settings):
        if service.after_ready is not None:
            service.after_ready(settings)
        report(f"  {service.name:<19} already running   {service.listens(settings)}")
        return 0.0
    if service.prepare is not None:
        service.prepare(settings)
    env = {**settings.environment_for(service.secrets), **service.env(settings)}
    process.start(service.command(settings), env=env, cwd=PROJECT_ROOT)
    ready = wait_until(
        lambda: service.ready(settings) or not process.is_running(), service.start_timeout, 0.3
    )
    if not ready or not process.is_running():
        raise ServiceStartError(
            f"{service.name} did not become ready within {service.start_timeout:.0f}s; "
            f"see {process.log_file}"
        )
    if service.after_ready is not None:
        service.after_ready(settings)
    elapsed = time.monotonic() - began
    report(f"  {service.name:<19} ready in {elapsed:5.1f}s  {service.listens(settings)}")
    return elapsed


def up(settings: Settings, names: Iterable[str] | None = None, report: Report = print) -> float:
    """Start the stack; returns total seconds. Logs: ``<run_dir>/logs/<service>.log``."""
    began = time.monotonic()
    report(f"Starting ERP Realtime BI (logs in {settings.paths.logs_dir})")
    for service in selected(settings, names):
        start_service(settings, service, report)
    total = time.monotonic() - began
    report(f"Stack up in {total:.1f}s. Dashboards: {settings.superset.url}")
    return total


def down(settings: Settings, names: Iterable[str] | None = None, report: Report = print) -> None:
    for service in reversed(selected(settings, names)):
        if process_for(settings, service).stop():
            report(f"  {service.name:<19} stopped")


def status(settings: Settings) -> list[ServiceStatus]:
    rows = []
    for service in selected(settings, None):
        process = process_for(settings, service)
        pid = process.pid()
        running = process.is_running()
        rows.append(
            ServiceStatus(
                name=service.name,
                running=running,
                ready=running and service.ready(settings),
                pid=pid if running else None,
                rss_mb=resident_memory_mb(pid) if running and pid else 0.0,
                listens=service.listens(settings),
                log_file=str(process.log_file),
            )
        )
    return rows
