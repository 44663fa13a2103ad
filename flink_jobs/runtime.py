"""Flink execution environment shared by every job: checkpoints, restore, connector jars.

Single-machine default ("local"): the job runs on a MiniCluster inside the
``erpbi`` job process, with its REST API on loopback. It keeps retained
checkpoints on disk and, when started again after a crash, resumes from the
newest complete one, so Kafka offsets and operator state (dedupe, join, sink
buffer) continue exactly where the last checkpoint left them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from common.settings import Settings

if TYPE_CHECKING:
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment

LOG = logging.getLogger(__name__)


LOG4J_PROPERTIES = Path(__file__).resolve().parent / "conf" / "log4j.properties"


def job_process_env(settings: Settings) -> dict[str, str]:
    """Environment for the process that runs a job (it launches the Flink JVM).

    Bounds the MiniCluster heap (its default is a quarter of the machine), keeps the
    JVM's logs (size-capped, see conf/log4j.properties) and its temporary jars under
    the run folder instead of the virtualenv and /tmp.
    """
    # Parallel GC, not G1: on 2 cores G1's write barriers and concurrent refinement
    # threads take CPU from the operators; measured, outbound ran ~35 % faster
    # (benchmarks/pipeline_bench.py). Its young-generation pauses stay far below the
    # 2 s latency goal at this heap size.
    return {
        "JVM_ARGS": (
            f"-Xmx{settings.flink.jvm_heap_mb}m -XX:+UseParallelGC "
            f"-Djava.io.tmpdir={flink_tmp_dir(settings)}"
        ),
        "FLINK_LOG_DIR": str(settings.paths.logs_dir / "flink"),
        "LOG4J_PROPERTIES": str(LOG4J_PROPERTIES),
    }


def flink_home(settings: Settings) -> Path:
    """The Flink distribution: the one ``FLINK_HOME`` names (Flink's own images), else the
    one inside the PyFlink package of the Flink virtualenv (bin/, lib/, conf/)."""
    if os.environ.get("FLINK_HOME"):
        return Path(os.environ["FLINK_HOME"])
    site = settings.paths.cache_dir / "venvs" / "flink" / "lib"
    found = sorted(site.glob("python3*/site-packages/pyflink"))
    if not found:
        raise FileNotFoundError(f"PyFlink is not installed under {site}: run scripts/bootstrap.sh")
    return found[-1]


def cluster_conf_dir(settings: Settings) -> Path:
    """The conf folder of the standalone cluster `erpbi up` runs (erpbi.flink_cluster)."""
    return settings.paths.run_dir / "config" / "flink-cluster"


def flink_tmp_dir(settings: Settings) -> Path:
    return settings.paths.run_dir / "tmp" / "flink"


def prepare_job_process(settings: Settings) -> None:
    """Apply :func:`job_process_env` to this process before the JVM starts.

    Values already set (e.g. by ``erpbi up``) win. Leftovers in the temp folder are
    from an earlier run of this job that was killed, so they are removed.
    """
    tmp = flink_tmp_dir(settings)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True, exist_ok=True)
    (settings.paths.logs_dir / "flink").mkdir(parents=True, exist_ok=True)
    for key, value in job_process_env(settings).items():
        os.environ.setdefault(key, value)


def connector_jars(settings: Settings) -> list[Path]:
    """The Kafka SQL connector (fetched) and the project's ClickHouse sink (built)."""
    jars = []
    for folder in ("flink", "flink-sink"):
        found = sorted((settings.paths.cache_dir / "jars" / folder).glob("*.jar"))
        if not found:
            raise FileNotFoundError(
                f"Flink jars are missing from {settings.paths.cache_dir / 'jars' / folder}: "
                "run `scripts/bootstrap.sh` (Maven fetches and builds them)"
            )
        jars += found
    return jars


def checkpoint_root(settings: Settings, job_name: str) -> Path:
    return settings.paths.data_dir / "flink" / "checkpoints" / job_name


def latest_checkpoint(root: Path) -> Path | None:
    """The newest complete retained checkpoint (a ``chk-N`` folder with ``_metadata``).

    Newest by when its ``_metadata`` was written, not by the folder's time: Flink deletes
    a subsumed checkpoint's files after the next one completes, which touches its folder,
    and a job killed during that deletion leaves an older, half-deleted checkpoint whose
    folder looks newest.
    """
    metadata = list(root.glob("*/chk-*/_metadata"))
    if not metadata:
        return None
    newest = max(metadata, key=lambda meta: (meta.stat().st_mtime, int(meta.parent.name[4:])))
    return newest.parent


def prune_old_jobs(root: Path, keep: Path | None) -> None:
    """Remove checkpoint folders of earlier runs except the one we restore from."""
    if not root.exists():
        return
    for job_dir in root.iterdir():
        if not job_dir.is_dir() or (keep is not None and keep.is_relative_to(job_dir)):
            continue
        shutil.rmtree(job_dir, ignore_errors=True)


PLAN_FILE = "plan.sha256"
_CONNECTOR_OPTIONS = re.compile(r"\)\s*WITH\s*\((?:[^()']|'(?:[^']|'')*')*\)\s*$")
_TOPIC_OPTION = re.compile(r"'topic'\s*=\s*'([^']*)'")


def plan_fingerprint(statements: list[str], state_backend: str) -> str:
    """What identifies the job graph and its state: the job's SQL, with connector options
    reduced to their topics (the sources' offsets belong to those topics; addresses and
    credentials change no operator or its state), and the state backend (a checkpoint of
    one backend does not restore into the other)."""
    digest = hashlib.sha256(f"state.backend.type={state_backend}".encode())
    for statement in statements:
        text = statement.strip()
        options = _CONNECTOR_OPTIONS.search(text)
        if options:
            topics = _TOPIC_OPTION.findall(options.group(0))
            text = text[: options.start()] + ") topics " + " ".join(topics)
        digest.update(b"\0" + text.encode())
    return digest.hexdigest()


def restorable(root: Path, checkpoint: Path | None, plan: str | None) -> Path | None:
    """The checkpoint to restore, unless the graph that took it differs from ``plan``.

    Flink maps state to operators by ids derived from the graph, so a checkpoint of an
    earlier graph (after an upgrade) may not restore, or may restore into the wrong
    operators. The job then starts fresh: Kafka is read again from the earliest retained
    offsets and the landing tables collapse what they already hold.
    """
    if checkpoint is None or plan is None:
        return checkpoint
    stored = root / PLAN_FILE
    taken_by = stored.read_text().strip() if stored.exists() else "unknown"
    if taken_by == plan:
        return checkpoint
    LOG.warning(
        "the job graph changed since checkpoint %s was taken (plan %s, now %s): starting "
        "fresh from the earliest Kafka offsets instead of restoring it",
        checkpoint, taken_by[:12], plan[:12],
    )  # fmt: skip
    return None


# What the standalone cluster's own config.yaml decides (erpbi.flink_cluster): its
# processes' memory, temp folders and REST endpoint. The job keeps the rest, including its
# jars (shipped with the submission), checkpoint folder and the checkpoint it restores.
CLUSTER_OWNED = (
    "rest.bind-address",
    "taskmanager.memory.process.size",
    "taskmanager.memory.managed.size",
    "python.executable",
    "io.tmp.dirs",
)


def cluster_submission(settings: Settings) -> dict[str, str]:
    """Submit to the session cluster's JobManager instead of starting a MiniCluster."""
    host, _, port = settings.flink.jobmanager_address.rpartition(":")
    return {"execution.target": "remote", "rest.address": host, "rest.port": port}


def build_environment(
    settings: Settings, job_name: str, restore: bool = True, plan: str | None = None
) -> tuple[StreamExecutionEnvironment, StreamTableEnvironment]:
    """The job's environment; ``plan`` (``plan_fingerprint``) guards the restore."""
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment

    flink = settings.flink
    if flink.mode == "local":  # in cluster mode the keeper did, before `flink run` began
        prepare_job_process(settings)
    root = checkpoint_root(settings, job_name)
    root.mkdir(parents=True, exist_ok=True)
    restore_from = latest_checkpoint(root) if restore else None
    restore_from = restorable(root, restore_from, plan)
    prune_old_jobs(root, restore_from)
    if plan is not None:
        (root / PLAN_FILE).write_text(plan + "\n")

    config = Configuration()
    values = {
        "pipeline.name": job_name,
        "pipeline.jars": ";".join(jar.as_uri() for jar in connector_jars(settings)),
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "python.fn-execution.bundle.time": "100",
        "python.fn-execution.bundle.size": "5000",
        "execution.checkpointing.interval": f"{flink.checkpoint_interval_ms}ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "execution.checkpointing.dir": root.as_uri(),
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
        "execution.checkpointing.num-retained": "2",
        "execution.checkpointing.tolerable-failed-checkpoints": "1000",
        "state.backend.type": flink.state_backend,
        "execution.checkpointing.incremental": str(flink.state_backend == "rocksdb").lower(),
        "taskmanager.memory.managed.size": f"{flink.state_memory_mb}m",
        # A join looks every new fact up before storing it; without bloom filters each of
        # those misses searches every level of the growing state.
        "state.backend.rocksdb.use-bloom-filter": "true",
        "state.backend.rocksdb.log.level": "HEADER_LEVEL",
        "restart-strategy.type": "exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff": "1s",
        "restart-strategy.exponential-delay.max-backoff": "30s",
        "restart-strategy.exponential-delay.attempts-before-reset-backoff": "1000000",
        "io.tmp.dirs": str(flink_tmp_dir(settings)),
        "rest.address": "127.0.0.1",
        "rest.bind-address": "127.0.0.1",
        "rest.port": str(flink.rest_port),
        "taskmanager.memory.process.size": "1024m",
        "parallelism.default": str(flink.parallelism),
        # The SQL runtime never holds on to a record it has passed on, so chained
        # operators may share it instead of copying every row between them.
        "pipeline.object-reuse": "true",
        "table.exec.state.ttl": "0",
        "table.exec.sink.upsert-materialize": "NONE",
    }
    if restore_from is not None:
        LOG.info("restoring %s from checkpoint %s", job_name, restore_from)
        values["execution.state-recovery.path"] = restore_from.as_uri()
        values["execution.state-recovery.ignore-unclaimed-state"] = "true"
    if flink.mode == "cluster":
        values |= cluster_submission(settings)
        for cluster_owned in CLUSTER_OWNED:
            values.pop(cluster_owned, None)
    for key, value in values.items():
        config.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(config)
    env.set_parallelism(flink.parallelism)
    table_env = StreamTableEnvironment.create(env)
    table_env.get_config().set("table.local-time-zone", "Asia/Shanghai")
    return env, table_env
