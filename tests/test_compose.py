"""docker-compose.yml cannot start here (no Docker engine), so check what can be checked:
it parses, every ERPBI_* variable names a real settings field and validates, the
addresses the project's services are given match the ports the others listen on, only
Superset and the push pictures are published, every secret is required (no fallback)
and reaches only the services that use it, and the images run as an unprivileged user
without the run and cache folders."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from common.settings import PROJECT_ROOT, Settings

COMPOSE = PROJECT_ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


REQUIRED = re.compile(r"\$\{(\w+):\?[^}]+\}")


def _resolve_defaults(value: str) -> str:
    """``${NAME:-default}`` -> ``default`` (what compose uses when NAME is unset);
    ``${NAME:?message}`` (compose refuses to start without it) -> ``set-NAME``."""
    value = REQUIRED.sub(lambda match: f"set-{match[1]}", value)
    if value.startswith("${") and ":-" in value:
        return value[value.index(":-") + 2 : -1]
    return value


def _erpbi_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    # ERPBI_<SECTION>__<FIELD>; Superset's own ERPBI_SUPERSET_<NAME> are not settings
    return {k: _resolve_defaults(str(v)) for k, v in env.items()
            if k.startswith("ERPBI_") and ("__" in k or k == "ERPBI_PROFILE")}  # fmt: skip


def _field_exists(path: list[str]) -> bool:
    model: type[BaseModel] = Settings
    for index, part in enumerate(path):
        fields = model.model_fields
        if part not in fields:
            return False
        annotation = fields[part].annotation
        if index < len(path) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def test_compose_has_the_whole_stack(compose: dict[str, Any]) -> None:
    services = set(compose["services"])
    assert {
        "kafka-1", "kafka-2", "kafka-3", "clickhouse", "flink-jobmanager",
        "flink-taskmanager-1", "flink-taskmanager-2", "flink-jobs",
        "superset", "superset-db", "simulator", "connector", "migrate", "alerter", "pusher",
    } <= services  # fmt: skip


def test_every_erpbi_variable_is_a_settings_field(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for variable in _erpbi_env(service):
            path = variable.removeprefix("ERPBI_").lower().split("__")
            assert _field_exists(path), f"{name}: {variable} is not a settings field"


def test_project_services_settings_validate(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _erpbi_env(compose["services"]["connector"])
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    settings = Settings()
    assert settings.kafka.bootstrap_servers == "kafka-1:9092,kafka-2:9092,kafka-3:9092"
    assert settings.profile == "cluster" and settings.flink.mode == "cluster"
    assert not settings.flink.start_cluster  # the compose file runs its own
    assert settings.jushuitan.app_secret.get_secret_value() == "set-JUSHUITAN_APP_SECRET"


def test_no_secret_has_a_fallback() -> None:
    """Every secret is ``${NAME:?...}``: compose stops with the message when it is unset,
    instead of starting with a password everyone can read here."""
    text = COMPOSE.read_text()
    assert "change-me" not in text
    for line in text.splitlines():
        name, _, value = line.strip().partition(":")
        if any(word in name for word in ("PASSWORD", "SECRET")) and "${" in value:
            assert REQUIRED.search(value), f"{name} has a fallback: {value.strip()}"


def _container_ports(service: dict[str, Any]) -> set[int]:
    """The ports a service listens on for the others: published or only exposed."""
    mappings = [*service.get("ports", []), *service.get("expose", [])]
    return {int(str(mapping).split(":")[-1]) for mapping in mappings}


def test_only_superset_and_the_push_pictures_are_published(compose: dict[str, Any]) -> None:
    published = {name for name, service in compose["services"].items() if service.get("ports")}
    assert published == {"superset", "pusher"}
    assert compose["services"]["pusher"]["ports"] == ["18095:18095"]


def test_each_secret_reaches_only_the_services_that_use_it(compose: dict[str, Any]) -> None:
    holders: dict[str, set[str]] = {}
    for name, service in compose["services"].items():
        for value in (service.get("environment") or {}).values():
            for secret in REQUIRED.findall(str(value)):
                holders.setdefault(secret, set()).add(name)
    assert holders["JUSHUITAN_APP_SECRET"] == {"connector", "reconciler", "simulator"}
    assert holders["SUPERSET_ADMIN_PASSWORD"] == {"superset", "pusher"}
    assert holders["SUPERSET_SECRET_KEY"] == {"superset"}
    assert holders["SUPERSET_DB_PASSWORD"] == {"superset", "superset-db"}
    assert holders["CLICKHOUSE_PASSWORD"] == {
        "clickhouse", "migrate", "flink-jobs", "forecaster", "alerter", "pusher", "monitor",
        "reconciler",
    }  # fmt: skip


def test_images_run_unprivileged_and_leave_run_data_and_tokens_out() -> None:
    for dockerfile in (PROJECT_ROOT / "docker").glob("*.Dockerfile"):
        users = [line.split()[1] for line in dockerfile.read_text().splitlines()
                 if line.startswith("USER ")]  # fmt: skip
        assert users and users[-1] not in ("root", "0"), f"{dockerfile.name} runs as root"
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert {".run/", ".cache/", "erpbi.yaml", "**/*token*", "**/*secret*"} <= set(ignored)


def test_addresses_agree_with_published_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = _erpbi_env(services["connector"])
    expectations = {
        **{host: int(port) for host, _, port in
           (a.partition(":") for a in env["ERPBI_KAFKA__BOOTSTRAP"].split(","))},  # fmt: skip
        "clickhouse": int(env["ERPBI_CLICKHOUSE__PORT"]),
        "superset": int(env["ERPBI_SUPERSET__PORT"]),
        "simulator": int(env["ERPBI_SIMULATOR__PORT"]),
        "flink-jobmanager": int(env["ERPBI_FLINK__JOBMANAGER_ADDRESS"].split(":")[1]),
    }
    for service, port in expectations.items():
        assert port in _container_ports(services[service]), (service, port)
    assert env["ERPBI_JUSHUITAN__BASE_URL"].endswith(f":{expectations['simulator']}")
    assert env["ERPBI_CLICKHOUSE__HOST"] == "clickhouse"


def test_secrets_come_from_the_environment_not_the_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in ("PASSWORD", "SECRET")) and isinstance(value, str):
                assert REQUIRED.fullmatch(value), f"{name}: {key} is not a required variable"
    uri = compose["services"]["superset"]["environment"]["ERPBI_SUPERSET_DATABASE_URI"]
    assert REQUIRED.search(uri), "Superset's metadata database password is written in the file"


def _settings_of(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for variable, value in _erpbi_env(service).items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("ERPBI_CONFIG", "-")
    return Settings()


def test_the_kafka_brokers_are_the_cluster_profiles(compose: dict[str, Any]) -> None:
    """Each broker's KAFKA_* variable (the image's spelling of a server property) equals
    what `erpbi up --profile cluster` writes for its own nodes."""
    from erpbi.kafka_service import broker_properties

    profile = Settings(profile="cluster")  # type: ignore[call-arg]
    brokers = sorted(name for name in compose["services"] if name.startswith("kafka-"))
    assert len(brokers) == profile.kafka.brokers
    shared = (
        "num.partitions", "default.replication.factor", "min.insync.replicas",
        "unclean.leader.election.enable", "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor", "transaction.state.log.min.isr",
    )  # fmt: skip
    for node, name in enumerate(brokers, start=1):
        env = compose["services"][name]["environment"]
        expected = broker_properties(profile, node)
        assert env["KAFKA_NODE_ID"] == str(node)
        for key in shared:
            assert env[f"KAFKA_{key.upper().replace('.', '_')}"] == expected[key], (name, key)
        voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
        assert [voter.split("@")[0] for voter in voters] == [str(n) for n in profile.kafka.nodes]


def test_the_flink_cluster_is_the_cluster_profiles(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """TaskManagers, slots, memory, GC, heartbeats and slot spreading as the profile's own
    cluster (erpbi.flink_cluster); the job at the profile's parallelism. RocksDB's memory
    and the parallel collector are TaskManager settings a job cannot set for itself."""
    from erpbi.flink_cluster import cluster_config

    services = compose["services"]
    profile = _settings_of(services["flink-jobs"], monkeypatch)
    assert profile.flink.parallelism == 2
    config = cluster_config(profile)
    managers = sorted(name for name in services if name.startswith("flink-taskmanager-"))
    assert len(managers) == profile.flink.taskmanagers
    jobmanager = yaml.safe_load(services["flink-jobmanager"]["environment"]["FLINK_PROPERTIES"])
    for key in ("taskmanager.load-balance.mode", "heartbeat.interval", "heartbeat.timeout",
                "jobmanager.memory.process.size"):  # fmt: skip
        assert jobmanager[key] == config[key], key
    for name in managers:
        properties = yaml.safe_load(services[name]["environment"]["FLINK_PROPERTIES"])
        for key in ("taskmanager.numberOfTaskSlots", "taskmanager.memory.process.size",
                    "taskmanager.memory.managed.size", "env.java.opts.taskmanager",
                    "heartbeat.interval", "heartbeat.timeout"):  # fmt: skip
            assert properties[key] == config[key], (name, key)
    # the keeper restores what the TaskManagers checkpointed: one volume, at the settings' path
    checkpoints = f"{profile.paths.data_dir}/flink/checkpoints"
    for name in ("flink-jobmanager", *managers, "flink-jobs"):
        assert f"flink-checkpoints:{checkpoints}" in services[name]["volumes"], name
