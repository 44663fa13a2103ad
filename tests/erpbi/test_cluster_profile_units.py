"""The cluster profile as settings, configuration files and the job keeper, without services:
one settings model chooses every part (common/profiles/cluster.yaml)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from common.settings import PROJECT_ROOT, Settings, load_settings
from erpbi import cli, flink_cluster, kafka_service, stack
from flink_jobs import keeper

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def no_profile_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ERPBI_PROFILE", "ERPBI_CONFIG", "ERPBI_PATHS__RUN_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ERPBI_CONFIG", "-")  # no erpbi.yaml of the developer's


def test_the_cluster_profile_sets_three_brokers_a_flink_cluster_and_its_own_run_folder() -> None:
    single, cluster = load_settings(), load_settings(profile="cluster")
    assert (single.kafka.brokers, single.flink.mode, single.flink.parallelism) == (1, "local", 1)
    assert cluster.kafka.bootstrap_servers == "127.0.0.1:19092,127.0.0.1:19192,127.0.0.1:19292"
    assert (cluster.kafka.replication_factor, cluster.kafka.min_insync_replicas) == (3, 2)
    assert (cluster.flink.mode, cluster.flink.start_cluster, cluster.flink.parallelism) == (
        "cluster", True, 2)  # fmt: skip
    assert cluster.paths.run_dir == PROJECT_ROOT / ".run" / "cluster"
    assert single.paths.run_dir == PROJECT_ROOT / ".run"


def test_the_environment_chooses_the_profile_and_still_wins_over_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ERPBI_PROFILE", "cluster")
    monkeypatch.setenv("ERPBI_FLINK__PARALLELISM", "1")
    settings = load_settings()
    assert settings.profile == "cluster" and settings.kafka.brokers == 3
    assert settings.flink.parallelism == 1
    # a child service gets the profile's values spelled out, and reads them back the same
    assert settings.environment["ERPBI_KAFKA__BROKERS"] == "3"


def test_replicas_that_cannot_fit_the_brokers_are_refused_with_the_numbers() -> None:
    with pytest.raises(ValidationError, match=r"replication_factor \(3\) <= brokers \(1\)"):
        Settings(profile="cluster", kafka={"brokers": 1})  # type: ignore[arg-type]


def test_each_kafka_node_has_its_own_ports_and_folder_and_knows_all_three_voters() -> None:
    settings = load_settings(profile="cluster")
    nodes = [kafka_service.broker_properties(settings, node) for node in (1, 2, 3)]
    assert {n["controller.quorum.voters"] for n in nodes} == {
        "1@127.0.0.1:19093,2@127.0.0.1:19193,3@127.0.0.1:19293"}  # fmt: skip
    assert len({n["listeners"] for n in nodes}) == len({n["log.dirs"] for n in nodes}) == 3
    for props in nodes:
        assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"
        assert props["default.replication.factor"] == "3"
        assert props["unclean.leader.election.enable"] == "false"
    assert kafka_service.service_name(1) == "kafka"  # the single machine's name, unchanged


def test_the_stack_of_each_profile() -> None:
    def names(settings: Settings) -> list[str]:
        return [service.name for service in stack.selected(settings, None)]

    single, cluster = names(load_settings()), names(load_settings(profile="cluster"))
    assert not {"kafka-2", "flink-jobmanager", "flink-taskmanager-1"} & set(single)
    expected = ["kafka", "kafka-2", "kafka-3", "simulator", "flink-jobmanager",
                "flink-taskmanager-1", "flink-taskmanager-2", "flink-pipeline"]  # fmt: skip
    assert [name for name in cluster if name in expected] == expected
    assert set(single) - {"kafka-2", "kafka-3"} <= set(cluster)  # nothing else changes


def test_the_flink_cluster_config_keeps_the_distributions_jvm_options() -> None:
    settings = load_settings(profile="cluster", flink={"jobmanager_address": "127.0.0.1:28081"})
    config = flink_cluster.cluster_config(settings)
    assert config["rest.port"] == 28081 and config["rest.bind-address"] == "127.0.0.1"
    assert config["taskmanager.numberOfTaskSlots"] == 2
    assert config["taskmanager.load-balance.mode"] == "slots"
    assert "--add-opens=java.base/java.util=ALL-UNNAMED" in config["env.java.opts.all"]


def test_up_remembers_the_profile_for_the_commands_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERPBI_PATHS__RUN_DIR", str(tmp_path))
    parse = cli.build_parser().parse_args
    assert cli.settings_for(parse(["status"])).profile == "single"
    assert cli.settings_for(parse(["up", "--profile", "cluster"])).profile == "cluster"
    assert cli.settings_for(parse(["status"])).profile == "cluster"
    assert cli.settings_for(parse(["--profile", "single", "status"])).profile == "single"
    assert cli.settings_for(parse(["down"])).profile == "cluster"  # only `up` changes it
    cli.settings_for(parse(["up", "--profile", "single"]))
    assert cli.settings_for(parse(["status"])).profile == "single"


# --- the keeper against a JobManager's REST API -------------------------------------------


class FakeJobManager:
    """/overview, /jobs/overview and /jobs/<id> of a session cluster; tests set ``jobs``."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, str]] = {}
        self.up = True
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                body: Any
                if not fake.up:
                    self.send_error(503)
                    return
                if self.path == "/overview":
                    body = {"taskmanagers": 2}
                elif self.path == "/jobs/overview":
                    body = {"jobs": [{"jid": jid, **job} for jid, job in fake.jobs.items()]}
                elif self.path.removeprefix("/jobs/") in fake.jobs:
                    body = fake.jobs[self.path.removeprefix("/jobs/")]
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.settings = load_settings(profile="cluster", flink={
            "jobmanager_address": f"127.0.0.1:{self.server.server_address[1]}"})  # fmt: skip


@pytest.fixture
def jobmanager() -> Iterator[FakeJobManager]:
    fake = FakeJobManager()
    yield fake
    fake.server.shutdown()


def test_the_keeper_submits_again_when_a_restarted_jobmanager_forgot_the_job(
    jobmanager: FakeJobManager,
) -> None:
    submitted: list[str] = []
    script = iter([
        lambda: setattr(jobmanager, "up", False),  # the JobManager is down
        lambda: (setattr(jobmanager, "up", True), jobmanager.jobs.clear()),  # back, empty
        lambda: None,
        lambda: jobmanager.jobs["j2"].update(state="CANCELED"),
    ])  # fmt: skip

    def submit() -> str:  # as `flink run` does: the JobManager knows the job at once
        submitted.append(f"j{len(submitted) + 1}")
        jobmanager.jobs[submitted[-1]] = {"name": "pipe", "state": "RUNNING"}
        return submitted[-1]

    ended = keeper.keep_submitted(jobmanager.settings, "pipe", submit,
                                  sleep=lambda seconds: next(script)())  # fmt: skip
    assert submitted == ["j1", "j2"]
    assert ended == "CANCELED"


def test_the_keeper_adopts_a_running_job_instead_of_submitting_a_copy(
    jobmanager: FakeJobManager,
) -> None:
    jobmanager.jobs["j0"] = {"name": "pipe", "state": "RUNNING"}

    def cancel(seconds: float) -> None:
        jobmanager.jobs["j0"]["state"] = "CANCELED"

    def submit() -> str:
        raise AssertionError("submitted a second copy")

    assert keeper.keep_submitted(jobmanager.settings, "pipe", submit, sleep=cancel) == "CANCELED"
