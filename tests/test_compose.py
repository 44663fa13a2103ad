"""docker-compose.yml cannot start here (no Docker engine), so check what can be checked:
it parses, every ERPBI_* variable names a real settings field and validates, and the
addresses the project's services are given match the ports the other services publish."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from common.settings import PROJECT_ROOT, Settings

COMPOSE = PROJECT_ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def _resolve_defaults(value: str) -> str:
    """``${NAME:-default}`` -> ``default`` (what compose uses when NAME is unset)."""
    if value.startswith("${") and ":-" in value:
        return value[value.index(":-") + 2 : -1]
    return value


def _erpbi_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    return {k: _resolve_defaults(str(v)) for k, v in env.items() if k.startswith("ERPBI_")}


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
        "kafka", "clickhouse", "flink-jobmanager", "flink-taskmanager", "flink-jobs",
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
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.flink.mode == "cluster"
    assert "change-me" not in str(settings.masked_dump())


def _published_container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(mapping).split(":")[-1]) for mapping in service.get("ports", [])}


def test_addresses_agree_with_published_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = _erpbi_env(services["connector"])
    expectations = {
        "kafka": int(env["ERPBI_KAFKA__PORT"]),
        "clickhouse": int(env["ERPBI_CLICKHOUSE__PORT"]),
        "superset": int(env["ERPBI_SUPERSET__PORT"]),
        "simulator": int(env["ERPBI_SIMULATOR__PORT"]),
        "flink-jobmanager": int(env["ERPBI_FLINK__JOBMANAGER_ADDRESS"].split(":")[1]),
    }
    for service, port in expectations.items():
        assert port in _published_container_ports(services[service]), (service, port)
    assert env["ERPBI_JUSHUITAN__BASE_URL"].endswith(f":{expectations['simulator']}")
    assert env["ERPBI_KAFKA__HOST"] == "kafka"
    assert env["ERPBI_CLICKHOUSE__HOST"] == "clickhouse"


def test_secrets_come_from_the_environment_not_the_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in ("PASSWORD", "SECRET")) and isinstance(value, str):
                assert value.startswith("${"), f"{name}: {key} is hard-coded"


def test_cluster_task_manager_runs_state_and_gc_like_the_local_job(
    compose: dict[str, Any],
) -> None:
    """RocksDB's native memory and the parallel collector are task-manager settings a job
    cannot set for itself; without them the cluster would run at the old, slower figures."""
    properties = yaml.safe_load(
        compose["services"]["flink-taskmanager"]["environment"]["FLINK_PROPERTIES"]
    )
    defaults = Settings().flink
    assert properties["taskmanager.memory.managed.size"] == f"{defaults.state_memory_mb}m"
    assert "-XX:+UseParallelGC" in properties["env.java.opts.taskmanager"]
