"""The cluster profile (``erpbi up --profile cluster``): the same pipeline on a Flink
standalone session cluster (a JobManager, two TaskManagers, each its own process) and a
3-broker KRaft Kafka, proven under faults with live ERP traffic and a feed onto the ODS
topics. After a TaskManager, a broker and the JobManager are each SIGKILLed, every key
of the ERP and of the feed is in the warehouse once, with its latest version. Then one of
the two warehouse servers is SIGKILLed while screens are read through Superset and the
sink writes: the screens answer from the other, the sink writes to it, and the server
that comes back has everything before it answers.

The shared single-machine stack is stopped first: two stacks do not fit on 2 cores.
"""

from __future__ import annotations

import json
import threading
import time
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
from dashboards.provision import chart_data
from dashboards.superset_client import SupersetClient
from erp_simulator.control import SimulatorControl
from erpbi import stack
from testkit.drill import SCREEN_NUMBERS, Drill
from testkit.support import isolated_settings
from warehouse.client import connect

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

# The data path of the cluster profile and the screens; alerts and pushes are the
# single-machine stack's, unchanged (their tests run on the shared stack).
DATA_PATH = [
    "clickhouse", "clickhouse-2", "kafka", "kafka-2", "kafka-3", "simulator",
    "flink-jobmanager", "flink-taskmanager-1", "flink-taskmanager-2", "flink-pipeline",
    "connector", "superset",
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
    # The TaskManagers run on for a heartbeat timeout without their JobManager, so a probe
    # can land before the keeper notices; the audit counts once the job runs again from
    # its checkpoint (re-reading what came after it must not duplicate anything).
    log = cluster.paths.logs_dir / "flink-pipeline.log"
    resubmitted = poll(lambda: _resubmitted_and_running(log.read_text(encoding="utf-8")), 240)
    assert resubmitted, log.read_text(encoding="utf-8")[-3000:]
    report = drill.settle_and_audit(timeout=300.0, screens=False)
    problems = [f"{a.stream}: lost {a.lost[:5]}, duplicated {a.duplicated[:5]}, wrong {a.wrong[:5]}"
                for a in report.audits if a.lost or a.duplicated or a.wrong]  # fmt: skip
    assert not problems, "\n".join(problems)
    # a day of history and minutes of traffic: after-sales may have no keys yet
    assert all(a.erp_keys > 0 for a in report.audits
               if a.stream in {"inventory", "outbound", "fed stock", "fed outbound"}), report.audits
    assert {a.stream for a in report.audits} >= {"fed stock", "fed outbound"}
    assert not report.serving_differ, report.serving_differ


def _resubmitted_and_running(log: str) -> bool:
    """The keeper submitted the job again from a checkpoint, and the new job runs."""
    _, found, after = log.partition("submitting it again from its newest checkpoint")
    return bool(found) and "restoring erpbi-pipeline from checkpoint" in after and (
        "runs on the cluster as" in after
    )


class ScreenReader:
    """Reads screen 7's tiles through Superset, uncached, one after another, as a wall does."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.reads: list[tuple[float, str, str]] = []  # (started, chart, error or "")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ScreenReader:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    def _run(self) -> None:
        client = SupersetClient.login(self.settings.superset)
        while not self._stop.is_set():
            for chart in SCREEN_NUMBERS:
                started = time.monotonic()
                try:
                    chart_data(self.settings, chart, client=client)
                    self.reads.append((started, chart, ""))
                except Exception as error:  # noqa: BLE001 - recorded, asserted on below
                    self.reads.append((started, chart, f"{type(error).__name__}: {error}"[:300]))

    def since(self, moment: float) -> list[tuple[float, str, str]]:
        return [read for read in self.reads if read[0] >= moment]


def _fact_counts(settings: Settings, replica: int) -> dict[str, int]:
    ch = settings.clickhouse
    client = connect(ch.alone(ch.host, ch.replica_port(replica)))
    try:
        return {
            table: int(client.command(f"SELECT count() FROM {table} FINAL"))
            for table in ("dws_inventory", "dwd_sale_out", "dwd_sale_out_item", "dim_sku")
        }
    finally:
        client.close()


def test_a_warehouse_server_killed_while_screens_are_read_and_the_sink_writes_loses_nothing(
    cluster: Settings, cluster_erp: SimulatorControl, cluster_warehouse: Client
) -> None:
    assert cluster.clickhouse.replicas == 2
    drill = Drill(cluster, cluster_erp, cluster_warehouse, seed=19)
    drill.live_traffic(orders_per_hour=5_000)
    drill.start_feed(records_per_second=100, prefix="DRILL-FEED2-")  # not the first drill's
    killed: dict[str, float] = {}

    def kill_the_first() -> None:
        drill.sigkill("clickhouse", restart=False)()
        killed["at"] = time.monotonic()

    with ScreenReader(cluster) as reader:
        assert poll(lambda: len(reader.reads) >= 4, 120), "screens never answered"
        # the probe: a stock change made now reaches the warehouse, i.e. the sink wrote it
        # to the second server
        down = drill.inject("SIGKILL clickhouse", kill_the_first)
        assert poll(lambda: len(reader.since(killed["at"])) >= 2 * len(SCREEN_NUMBERS), 120)
        while_down = reader.since(killed["at"])
        back = drill.inject("clickhouse back", drill.started("clickhouse"))
    assert down.recovered_s is not None, "the sink did not carry on on the second server"
    assert back.recovered_s is not None
    failed = [read for read in while_down if read[2]]
    assert not failed, failed

    report = drill.settle_and_audit(timeout=300.0, screens=True)
    problems = [f"{a.stream}: lost {a.lost[:5]}, duplicated {a.duplicated[:5]}, wrong {a.wrong[:5]}"
                for a in report.audits if a.lost or a.duplicated or a.wrong]  # fmt: skip
    assert not problems, "\n".join(problems)
    assert not report.serving_differ, report.serving_differ
    assert not report.screen_differ, report.screen_differ
    # the audit read the first server (back, and first in every client's list); the second
    # has the same, each key once
    assert poll(lambda: _fact_counts(cluster, 1) == _fact_counts(cluster, 2), 60), (
        _fact_counts(cluster, 1), _fact_counts(cluster, 2))  # fmt: skip
    log = (cluster.paths.logs_dir / "clickhouse.log").read_text(encoding="utf-8")
    assert "caught up from peers" in log
