"""A Flink standalone session cluster on loopback: one JobManager and ``flink.taskmanagers``
TaskManagers, each its own process, started by the Flink distribution's own scripts
(``jobmanager.sh`` / ``taskmanager.sh start-foreground``) from the PyFlink virtualenv.

Every process reads one generated ``config.yaml`` (``<run>/config/flink-cluster``); the
pipeline job is then submitted to the JobManager (``flink_jobs.pipeline_job``, cluster
mode) with its checkpoints in the run folder that every TaskManager shares.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from common.settings import Settings
from flink_jobs.runtime import cluster_conf_dir as conf_dir
from flink_jobs.runtime import flink_home

HEARTBEAT_INTERVAL_MS = 2000
# A TaskManager that stopped answering is given up after this long, or after two failed
# heartbeat calls (a SIGKILLed one refuses the connection at once): its slots' tasks then
# restart on the slots left.
HEARTBEAT_TIMEOUT_MS = 15000


def log_dir(settings: Settings) -> Path:
    return settings.paths.logs_dir / "flink"


def taskmanager_name(index: int) -> str:
    return f"flink-taskmanager-{index}"


def distribution_defaults(settings: Settings) -> dict[str, Any]:
    """The distribution's own conf/config.yaml, flattened: among others the JVM options
    (``--add-opens``) that Flink needs on Java 17."""
    text = (flink_home(settings) / "conf" / "config.yaml").read_text(encoding="utf-8")
    return _flat(yaml.safe_load(text) or {})


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def cluster_config(settings: Settings) -> dict[str, Any]:
    """config.yaml of every process of the cluster (flat keys, as Flink reads them): the
    distribution's defaults, then this machine's addresses and the settings' sizes."""
    flink = settings.flink
    rest_host, _, rest_port = flink.jobmanager_address.rpartition(":")
    return distribution_defaults(settings) | {
        "jobmanager.rpc.address": rest_host,
        "jobmanager.rpc.port": flink.jobmanager_rpc_port,
        "jobmanager.bind-host": rest_host,
        "jobmanager.memory.process.size": f"{flink.jobmanager_memory_mb}m",
        "taskmanager.host": rest_host,
        "taskmanager.bind-host": rest_host,
        "taskmanager.numberOfTaskSlots": flink.taskmanager_slots,
        # one subtask of each operator per TaskManager while both run (a lost one costs
        # half the job, not all of it); either one has the slots to run the whole job
        "taskmanager.load-balance.mode": "slots",
        "taskmanager.memory.process.size": f"{flink.taskmanager_memory_mb}m",
        # RocksDB's native memory (write buffers, block cache), shared by a TaskManager's slots
        "taskmanager.memory.managed.size": f"{flink.state_memory_mb}m",
        "rest.address": rest_host,
        "rest.bind-address": rest_host,
        "rest.port": int(rest_port),
        "heartbeat.interval": HEARTBEAT_INTERVAL_MS,
        "heartbeat.timeout": HEARTBEAT_TIMEOUT_MS,
        "parallelism.default": flink.parallelism,
        # Parallel GC, as the MiniCluster (flink_jobs.runtime): G1's background threads
        # take CPU the operators need on a small machine.
        "env.java.opts.taskmanager": "-XX:+UseParallelGC",
        "io.tmp.dirs": str(settings.paths.run_dir / "tmp" / "flink-cluster"),
        # RocksDB's own LOG files (one per operator and job): with the temp files, not
        # among the logs an operator reads
        "state.backend.rocksdb.log.dir": str(settings.paths.run_dir / "tmp" / "flink-cluster"),
        "web.submit.enable": "true",
        "web.cancel.enable": "true",
    }


def write_config(settings: Settings) -> None:
    """Write the cluster's conf folder: config.yaml and the size-capped log4j file."""
    from flink_jobs.runtime import LOG4J_PROPERTIES

    directory = conf_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    (settings.paths.run_dir / "tmp" / "flink-cluster").mkdir(parents=True, exist_ok=True)
    log_dir(settings).mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(
        yaml.safe_dump(cluster_config(settings), sort_keys=False), encoding="utf-8"
    )
    shutil.copyfile(LOG4J_PROPERTIES, directory / "log4j-console.properties")
    # `flink run` (the keeper's submissions) logs with the distribution's own file
    shutil.copyfile(flink_home(settings) / "conf" / "log4j-cli.properties",
                    directory / "log4j-cli.properties")  # fmt: skip


def process_env(settings: Settings) -> dict[str, str]:
    """What the Flink scripts read: the conf and log folders, the virtualenv's java/python."""
    venv_bin = settings.paths.cache_dir / "venvs" / "flink" / "bin"
    return {
        "FLINK_CONF_DIR": str(conf_dir(settings)),
        "FLINK_LOG_DIR": str(log_dir(settings)),
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }


def jobmanager_command(settings: Settings) -> list[str]:
    return [str(flink_home(settings) / "bin" / "jobmanager.sh"), "start-foreground"]


def taskmanager_command(settings: Settings, index: int) -> list[str]:
    return [
        str(flink_home(settings) / "bin" / "taskmanager.sh"), "start-foreground",
        "-D", f"taskmanager.resource-id={taskmanager_name(index)}",
    ]  # fmt: skip


def _rest(settings: Settings, path: str) -> Any:
    with urllib.request.urlopen(f"{settings.flink.rest_url}{path}", timeout=2.0) as reply:
        return json.load(reply)


def jobmanager_ready(settings: Settings) -> bool:
    try:
        return "taskmanagers" in _rest(settings, "/overview")
    except (OSError, ValueError):
        return False


def registered_taskmanagers(settings: Settings) -> set[str]:
    """The resource ids of the TaskManagers registered with the JobManager now."""
    try:
        return {tm["id"] for tm in _rest(settings, "/taskmanagers").get("taskmanagers", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def taskmanager_ready(settings: Settings, index: int) -> bool:
    return taskmanager_name(index) in registered_taskmanagers(settings)
