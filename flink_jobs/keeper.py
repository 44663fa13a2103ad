"""Keep the pipeline submitted to a standalone session cluster (``flink.mode: cluster``).

A session cluster without high availability forgets its jobs when its JobManager
restarts; the TaskManagers register again with the new one, but nothing runs. The
process that submitted the job therefore stays, watching it over the REST API:

- on start it adopts a job of the same name that is already running (a second
  ``erpbi up`` or a restarted keeper never submits a copy);
- when the JobManager answers again but no longer knows the job (it was restarted), or the
  job failed for good, it submits the job again, which restores the newest retained
  checkpoint from the shared checkpoint folder (``runtime.latest_checkpoint``): the Kafka
  offsets and the operators' state go on from there;
- when the job was cancelled (``erpbi jobs cancel``) or finished, it exits.

The job is submitted as PyFlink documents it, with the distribution's own client:
``flink run -d -m <jobmanager> -pym flink_jobs.pipeline_job`` (``--submit-only``), so
the connector jars travel with the submission. Only the standard library here: the REST
API is plain JSON over HTTP.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from common.settings import PROJECT_ROOT, Settings
from flink_jobs.runtime import cluster_conf_dir, flink_home

LOG = logging.getLogger(__name__)
POLL_SECONDS = 2.0
# States in which the cluster is still running (or bringing back) the job.
LIVE_STATES = frozenset(
    {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "FAILING", "CANCELLING", "RECONCILING"}
)
ENDED_BY_USER = frozenset({"CANCELED", "FINISHED", "SUSPENDED"})
MISSING = "MISSING"  # the JobManager answers but does not know the job


def _get(settings: Settings, path: str) -> Any:
    with urllib.request.urlopen(f"{settings.flink.rest_url}{path}", timeout=5.0) as reply:
        return json.load(reply)


def live_job(settings: Settings, name: str) -> str | None:
    """The id of a job called ``name`` the cluster is running, if any (None if unreachable)."""
    try:
        jobs = _get(settings, "/jobs/overview").get("jobs", [])
    except (OSError, ValueError):
        return None
    for job in jobs:
        if job.get("name") == name and job.get("state") in LIVE_STATES:
            return str(job["jid"])
    return None


def job_state(settings: Settings, job_id: str) -> str | None:
    """The job's state, :data:`MISSING`, or None while the JobManager does not answer."""
    try:
        return str(_get(settings, f"/jobs/{job_id}").get("state"))
    except urllib.error.HTTPError as error:
        return MISSING if error.code == 404 else None
    except (OSError, ValueError):
        return None


def jobmanager_up(settings: Settings) -> bool:
    try:
        return "taskmanagers" in _get(settings, "/overview")
    except (OSError, ValueError):
        return False


def keep_submitted(
    settings: Settings,
    name: str,
    submit: Callable[[], str],
    poll_seconds: float = POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Submit (or adopt) the job and keep it submitted until it is cancelled or finished;
    returns the state it ended in."""
    job_id = live_job(settings, name)
    if job_id is not None:
        LOG.info("adopting %s, already running on the cluster as %s", name, job_id)
    unreachable_since: float | None = None
    while True:
        if job_id is None and jobmanager_up(settings):
            job_id = submit()
            LOG.info("%s runs on the cluster as %s", name, job_id)
        state = job_state(settings, job_id) if job_id is not None else None
        if job_id is not None and state is None:
            unreachable_since = unreachable_since or time.monotonic()
            if time.monotonic() - unreachable_since >= 60.0:
                LOG.warning("the JobManager at %s has not answered for a minute",
                            settings.flink.jobmanager_address)  # fmt: skip
                unreachable_since = time.monotonic()
        elif state in ENDED_BY_USER:
            LOG.info("%s %s ended: %s", name, job_id, state)
            return str(state)
        elif state == MISSING or state == "FAILED":
            LOG.warning(
                "%s %s is %s on the JobManager (restarted?): submitting it again from its "
                "newest checkpoint", name, job_id, state.lower(),
            )  # fmt: skip
            job_id = None
        else:
            unreachable_since = None
        sleep(poll_seconds)


SUBMITTED = re.compile(r"JobID ([0-9a-f]{32})")


def submit_command(settings: Settings, module: str = "flink_jobs.pipeline_job") -> list[str]:
    python = sys.executable  # the Flink virtualenv's (erpbi up), or the image's (compose)
    return [
        str(flink_home(settings) / "bin" / "flink"), "run", "--detached",
        "--jobmanager", settings.flink.jobmanager_address,
        "--pyClientExecutable", python, "--pyExecutable", python,
        "--pyModule", module, "--submit-only",
    ]  # fmt: skip


def submit_with_cli(settings: Settings, timeout: float = 600.0) -> str:
    """Submit the job with ``flink run``; returns its job id. The client's output goes to
    this process's log; its settings come from this process's environment."""
    conf = cluster_conf_dir(settings)
    env = dict(os.environ)
    env["FLINK_CONF_DIR"] = str(conf if conf.exists() else flink_home(settings) / "conf")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    python_bin = os.path.dirname(sys.executable)  # `python` for the scripts flink calls
    env["PATH"] = os.pathsep.join([python_bin, env.get("PATH", "/usr/bin:/bin")])
    finished = subprocess.run(
        submit_command(settings), env=env, cwd=PROJECT_ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
    )  # fmt: skip
    print(finished.stdout, flush=True)
    found = SUBMITTED.search(finished.stdout)
    if finished.returncode != 0 or found is None:
        raise RuntimeError(f"`flink run` failed (exit {finished.returncode}); its output is above")
    return found.group(1)
