"""``erpbi jobs deploy|status|cancel`` for the Flink jobs.

Both modes start the same supervised process (``flink-pipeline``, see ``erpbi.services``):
in local mode it runs the job on a MiniCluster inside itself; in cluster mode (the cluster
profile, the compose stack) it submits the job to the JobManager at
``flink.jobmanager_address`` at ``flink.parallelism``, then keeps it submitted
(``flink_jobs.keeper``).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from common.settings import Settings
from erpbi import stack
from erpbi.services import by_name

JOB_SERVICES = ("flink-pipeline",)


def rest_base(settings: Settings) -> str:
    return settings.flink.rest_url


def list_jobs(settings: Settings) -> list[dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{rest_base(settings)}/jobs/overview", timeout=5) as reply:
            return list(json.load(reply).get("jobs", []))
    except (OSError, ValueError):
        return []


def deploy(settings: Settings) -> None:
    stack.up(settings, JOB_SERVICES)


def cancel(settings: Settings) -> None:
    for job in list_jobs(settings):
        if job.get("state") == "RUNNING":
            request = urllib.request.Request(
                f"{rest_base(settings)}/jobs/{job['jid']}?mode=cancel", method="PATCH"
            )
            urllib.request.urlopen(request, timeout=10).close()
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
