"""``erpbi jobs deploy|status|cancel`` for the Flink jobs.

Local mode runs each job on a MiniCluster inside a supervised process (see
``erpbi.services``). Cluster mode (the compose stack) submits the same Python
job with ``flink run -py`` to the JobManager at ``flink.jobmanager_address``.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from typing import Any

from common.settings import PROJECT_ROOT, Settings
from erpbi import stack
from erpbi.services import by_name

JOB_SERVICES = ("flink-pipeline",)
JOB_MODULES = {"flink-pipeline": "flink_jobs/pipeline_job.py"}


def rest_base(settings: Settings) -> str:
    if settings.flink.mode == "cluster":
        return f"http://{settings.flink.jobmanager_address}"
    return f"http://127.0.0.1:{settings.flink.rest_port}"


def list_jobs(settings: Settings) -> list[dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{rest_base(settings)}/jobs/overview", timeout=5) as reply:
            return list(json.load(reply).get("jobs", []))
    except (OSError, ValueError):
        return []


def deploy(settings: Settings) -> None:
    if settings.flink.mode == "local":
        stack.up(settings, JOB_SERVICES)
        return
    flink_bin = settings.paths.cache_dir / "venvs" / "flink" / "bin" / "flink"
    for service in JOB_SERVICES:
        command = [
            str(flink_bin), "run", "-d", "-m", settings.flink.jobmanager_address,
            "-py", str(PROJECT_ROOT / JOB_MODULES[service]), "-pyfs", str(PROJECT_ROOT),
        ]  # fmt: skip
        subprocess.run(command, check=True)


def cancel(settings: Settings) -> None:
    for job in list_jobs(settings):
        if job.get("state") == "RUNNING":
            request = urllib.request.Request(
                f"{rest_base(settings)}/jobs/{job['jid']}?mode=cancel", method="PATCH"
            )
            urllib.request.urlopen(request, timeout=10).close()
    if settings.flink.mode == "local":
        for service in JOB_SERVICES:
            stack.process_for(settings, by_name(service)).stop()


def run_action(settings: Settings, action: str) -> int:
    if action == "deploy":
        deploy(settings)
    elif action == "cancel":
        cancel(settings)
    jobs = list_jobs(settings)
    if not jobs:
        print("no Flink job is running")
        return 0 if action == "cancel" else 3
    for job in jobs:
        print(f"{job.get('name', '?'):<24} {job.get('state', '?'):<10} {job.get('jid', '')}")
    return 0
