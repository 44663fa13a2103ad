"""docker-compose.yml cannot start here (no Docker engine), so check what can be checked:
it parses, every ERPBI_* variable names a real settings field and validates, the
addresses the project's services are given match the ports the others listen on, only
Superset and the push pictures are published, every secret is required (no fallback)
and reaches only the services that use it, the images run as an unprivileged user
without the run and cache folders, and the warehouse is two ClickHouse replicas on one
Keeper that every client fails over between and the migrations build replicated."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
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
        "kafka-1", "kafka-2", "kafka-3", "clickhouse", "clickhouse-2", "clickhouse-keeper",
        "flink-jobmanager",
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
        "clickhouse", "clickhouse-2", "migrate", "flink-jobs", "forecaster", "alerter", "pusher",
        "monitor", "reconciler",
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


# --- the warehouse: 2 ClickHouse replicas and a Keeper ----------------------------------

SERVER_IMAGE = "clickhouse/clickhouse-server"
KEEPER_IMAGE = "clickhouse/clickhouse-keeper"


def _image(service: dict[str, Any]) -> tuple[str, str]:
    name, _, tag = str(service.get("image", "")).partition(":")
    return name, tag


def _warehouse_servers(compose: dict[str, Any]) -> list[str]:
    return sorted(n for n, s in compose["services"].items() if _image(s)[0] == SERVER_IMAGE)


def _mounted_config(service: dict[str, Any], directory: str) -> list[ET.Element]:
    """The XML files a service mounts under ``directory`` (read from this repository)."""
    roots = []
    for volume in service.get("volumes", []):
        source, _, rest = str(volume).partition(":")
        target = rest.split(":")[0]
        if source.startswith("./") and target.startswith(directory):
            roots.append(ET.parse(PROJECT_ROOT / Path(source)).getroot())
    return roots


def _config_value(roots: list[ET.Element], path: str) -> ET.Element:
    """The element at ``path`` in the one mounted file that has it (ClickHouse merges them;
    a path set twice would depend on the merge order)."""
    found = [element for root in roots for element in root.findall(path)]
    assert len(found) == 1, (path, len(found))
    return found[0]


def test_the_warehouse_is_two_replicas_and_a_keeper(compose: dict[str, Any]) -> None:
    services = compose["services"]
    servers = _warehouse_servers(compose)
    assert servers == ["clickhouse", "clickhouse-2"]
    keepers = [name for name, service in services.items() if _image(service)[0] == KEEPER_IMAGE]
    assert keepers == ["clickhouse-keeper"]
    tags = {_image(services[name])[1] for name in [*servers, *keepers]}
    assert len(tags) == 1 and tags != {""}, f"one ClickHouse version for all: {tags}"
    for name in servers:
        assert services[name]["depends_on"]["clickhouse-keeper"] == {"condition": "service_healthy"}
        assert services[name]["environment"] == services["clickhouse"]["environment"], name
    data = [next(v for v in services[n]["volumes"] if str(v).endswith(":/var/lib/clickhouse"))
            for n in servers]  # fmt: skip
    assert len(set(data)) == len(servers), "each replica its own data volume"


def test_each_replica_names_itself_and_the_keeper(compose: dict[str, Any]) -> None:
    """Distinct replica macros (Keeper refuses a second replica of one name), one shard, the
    keeper service at its client port, and an interserver address the other can reach."""
    services = compose["services"]
    keeper = _mounted_config(services["clickhouse-keeper"], "/etc/clickhouse-keeper/")
    keeper_port = int(_config_value(keeper, "keeper_server/tcp_port").text or "")
    raft = _config_value(keeper, "keeper_server/raft_configuration")
    assert [server.findtext("hostname") for server in raft] == ["clickhouse-keeper"]
    assert keeper_port in _container_ports(services["clickhouse-keeper"])
    shards, replicas = set(), []
    servers = _warehouse_servers(compose)
    for name in servers:
        config = _mounted_config(services[name], "/etc/clickhouse-server/config.d/")
        nodes = _config_value(config, "zookeeper").findall("node")
        assert [(node.findtext("host"), int(node.findtext("port") or 0)) for node in nodes] == [
            ("clickhouse-keeper", keeper_port)
        ], name
        macros = _config_value(config, "macros")
        shards.add(macros.findtext("shard"))
        replicas.append(macros.findtext("replica"))
        assert macros.findtext("replica") == name
        assert _config_value(config, "interserver_http_host").text == name
        cluster = _config_value(config, "remote_servers/erpbi")
        hosts = [replica.findtext("host") for replica in cluster.iter("replica")]
        assert sorted(hosts) == servers, name
    assert len(shards) == 1 and len(set(replicas)) == len(servers)


def test_every_warehouse_client_fails_over_to_the_other_replica(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    servers = _warehouse_servers(compose)
    clients = [name for name, service in services.items()
               if "ERPBI_CLICKHOUSE__HOST" in _erpbi_env(service)]  # fmt: skip
    assert {"migrate", "flink-jobs", "forecaster", "alerter", "pusher", "monitor",
            "reconciler", "superset"} <= set(clients)  # fmt: skip
    for name in clients:
        assert "ERPBI_CLICKHOUSE__MORE_HOSTS" in _erpbi_env(services[name]), name
        with monkeypatch.context() as scoped:
            settings = _settings_of(services[name], scoped).clickhouse
        assert sorted(host for host, _ in settings.endpoints) == servers, name
        for host, port in settings.endpoints:
            assert port in _container_ports(services[host]), (name, host, port)
    # Superset's own connections (the charts) fail over the same way, in the same order
    with monkeypatch.context() as scoped:
        urls = _settings_of(services["superset"], scoped).clickhouse.urls()
    assert services["superset"]["environment"]["ERPBI_SUPERSET_WAREHOUSE_URLS"] == ",".join(urls)


def test_migrations_build_both_replicas_replicated(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One `erpbi warehouse migrate` runs every statement on every replica (lockstep, see
    warehouse/migrate.py), after both answer; every service that waits for the migrations
    waits for that run."""
    from warehouse.migrate import servers as migration_servers

    services = compose["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["erpbi", "warehouse", "migrate"]
    settings = _settings_of(migrate, monkeypatch).clickhouse
    assert settings.replicated
    targets = [(server.host, server.port) for server in migration_servers(settings)]
    assert sorted(host for host, _ in targets) == _warehouse_servers(compose)
    assert all(len(server.endpoints) == 1 for server in migration_servers(settings))
    for name in _warehouse_servers(compose):
        assert migrate["depends_on"][name] == {"condition": "service_healthy"}
    migrators = [name for name, service in services.items()
                 if service.get("command") == migrate["command"]]  # fmt: skip
    assert migrators == ["migrate"]
    waiting = [name for name, service in services.items()
               if "migrate" in (service.get("depends_on") or {})]  # fmt: skip
    assert {"flink-jobs", "forecaster", "alerter", "pusher", "monitor"} <= set(waiting)
    for name in waiting:
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }, name
