"""The cluster profile (``erpbi up --profile cluster``): the same pipeline on a Flink
standalone session cluster (a JobManager, two TaskManagers, each its own process) and a
3-broker KRaft Kafka, proven under faults with live ERP traffic and a feed onto the ODS
topics. After a TaskManager, a broker and the JobManager are each SIGKILLed, every key
of the ERP and of the feed is in the warehouse once, with its latest version.

The shared single-machine stack is stopped first: two stacks do not fit on 2 cores.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from test_inventory_slice import INITIAL_LOAD_DEADLINE_SECONDS, caught_up, poll

from common.settings import Settings
from erp_simulator.control import SimulatorControl
from erpbi import stack
from testkit.drill import Drill
from testkit.support import isolated_settings
from warehouse.client import connect

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

# The data path of the cluster profile; Superset, alerts and pushes are the single-machine
# stack's, unchanged (their tests run on the shared stack).
DATA_PATH = [
    "clickhouse", "kafka", "kafka-2", "kafka-3", "simulator", "flink-jobmanager",
    "flink-taskmanager-1", "flink-taskmanager-2", "flink-pipeline", "connector",
]  # fmt: skip


@pytest.fixture(scope="module")
def cluster(stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Settings]:  # fmt: skip
    stack.down(stack_settings, report=lambda line: None)
    run_dir: Path = tmp_path_factory.mktemp("cluster") / "run"
    settings = isolated_settings(run_dir, profile="cluster", flink={"checkpoint_interval_ms": 2000})
    try:
        stack.up(settings, DATA_PATH, report=lambda line: None)
        yield settings
    finally:
        stack.down(settings, report=lambda line: None)


@pytest.fixture(scope="module")
def cluster_erp(cluster: Settings) -> Iterator[SimulatorControl]:
    control = SimulatorControl(cluster.jushuitan.base_url)
    yield control
    control.close()


@pytest.fixture(scope="module")
def cluster_warehouse(cluster: Settings) -> Iterator[Client]:
    client = connect(cluster.clickhouse)
    yield client
    client.close()


def rest(settings: Settings, path: str) -> Any:
    with urllib.request.urlopen(f"{settings.flink.rest_url}{path}", timeout=10) as reply:
        return json.load(reply)


def test_the_job_runs_at_parallelism_2_across_two_taskmanagers_on_replicated_topics(
    cluster: Settings,
) -> None:
    managers = rest(cluster, "/taskmanagers")["taskmanagers"]
    assert sorted(m["id"] for m in managers) == ["flink-taskmanager-1", "flink-taskmanager-2"]
    (job,) = [j for j in rest(cluster, "/jobs/overview")["jobs"] if j["state"] == "RUNNING"]
    assert job["name"] == "erpbi-pipeline"
    vertices = rest(cluster, f"/jobs/{job['jid']}")["vertices"]
    assert {v["parallelism"] for v in vertices} == {2}
    # both TaskManagers run a share of the tasks
    hosts = {
        sub["taskmanager-id"]
        for v in vertices
        for sub in rest(cluster, f"/jobs/{job['jid']}/vertices/{v['id']}/taskmanagers")[
            "taskmanagers"
        ]
    }
    assert hosts == {"flink-taskmanager-1", "flink-taskmanager-2"}

    admin = KafkaAdminClient(bootstrap_servers=cluster.kafka.bootstrap_servers)
    try:
        topic = cluster.kafka.topic("ods", "outbound")
        (described,) = admin.describe_topics([topic])
        assert {len(p["replica_nodes"]) for p in described["partitions"]} == {3}
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all"
        )
        assert configs["topic"][topic]["min.insync.replicas"]["value"] == "2"
    finally:
        admin.close()


def test_a_taskmanager_a_broker_and_the_jobmanager_killed_lose_and_duplicate_nothing(
    cluster: Settings, cluster_erp: SimulatorControl, cluster_warehouse: Client
) -> None:
    assert poll(lambda: caught_up(cluster_erp, cluster_warehouse),
                INITIAL_LOAD_DEADLINE_SECONDS), "never caught up"  # fmt: skip
    drill = Drill(cluster, cluster_erp, cluster_warehouse, seed=18)
    drill.live_traffic(orders_per_hour=5_000)
    drill.start_feed(records_per_second=100)
    faults = [
        # the job restarts on the other TaskManager's two slots, then gets its own back
        ("SIGKILL flink-taskmanager-1", drill.sigkill("flink-taskmanager-1", restart=False)),
        ("flink-taskmanager-1 back", drill.started("flink-taskmanager-1")),
        # two of three brokers keep every partition writable (min.insync.replicas=2)
        ("SIGKILL kafka-2", drill.sigkill("kafka-2", restart=False)),
        ("kafka-2 back", drill.started("kafka-2")),
        # the new JobManager knows no job: the keeper submits it from its last checkpoint
        ("SIGKILL flink-jobmanager, restarted", drill.sigkill("flink-jobmanager")),
    ]
    results = [drill.inject(name, fault) for name, fault in faults]
    assert all(r.recovered_s is not None for r in results), results
    report = drill.settle_and_audit(timeout=300.0, screens=False)
    problems = [f"{a.stream}: lost {a.lost[:5]}, duplicated {a.duplicated[:5]}, wrong {a.wrong[:5]}"
                for a in report.audits if a.lost or a.duplicated or a.wrong]  # fmt: skip
    assert not problems, "\n".join(problems)
    # a day of history and minutes of traffic: after-sales may have no keys yet
    assert all(a.erp_keys > 0 for a in report.audits
               if a.stream in {"inventory", "outbound", "fed stock", "fed outbound"}), report.audits
    assert {a.stream for a in report.audits} >= {"fed stock", "fed outbound"}
    assert not report.serving_differ, report.serving_differ
    # the job that runs now was submitted again by the keeper, from a checkpoint
    log = (cluster.paths.logs_dir / "flink-pipeline.log").read_text(encoding="utf-8")
    assert "submitting it again from its newest checkpoint" in log
    assert "restoring erpbi-pipeline from checkpoint" in log
