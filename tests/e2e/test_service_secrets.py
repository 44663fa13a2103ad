"""Each service of the running stack holds only its own secrets.

The e2e stack runs with a distinct value for every secret (warehouse password, shop-owner
passwords, Superset's admin password and key, the ERP app secret). Each service's
environment, as the kernel keeps it in ``/proc/<pid>/environ``, may hold only the secrets
its ``Service.secrets`` names and those its own ``env`` adds: the shop owners' passwords
reach the push service alone, the ERP app secret only the connector, the simulator and
the reconciler, and Kafka, Prometheus and Flink none of the chat robots' or Superset's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from common.settings import Settings
from erpbi import stack
from erpbi.services import by_name

pytestmark = pytest.mark.e2e


def secrets_of(model: BaseModel, path: str = "") -> dict[str, str]:
    """Dotted path -> value of every secret that is set."""
    found: dict[str, str] = {}
    for name in type(model).model_fields:
        value, where = getattr(model, name), f"{path}.{name}" if path else name
        if isinstance(value, SecretStr) and value.get_secret_value():
            found[where] = value.get_secret_value()
        elif isinstance(value, BaseModel):
            found |= secrets_of(value, where)
        elif isinstance(value, dict):
            found |= {f"{where}.{key}": item.get_secret_value() for key, item in value.items()
                      if isinstance(item, SecretStr) and item.get_secret_value()}  # fmt: skip
    return found


def allowed(settings: Settings, service: str, path: str, value: str) -> bool:
    own = by_name(service)
    named = any(path == p or path.startswith(p + ".") for p in own.secrets)
    return named or value in own.env(settings).values()


def test_every_service_holds_only_its_own_secrets(running_stack: Settings) -> None:
    settings = running_stack
    secrets = secrets_of(settings)
    assert {"clickhouse.password", "jushuitan.app_secret", "superset.secret_key"} <= set(secrets)
    assert any(path.startswith("clickhouse.shop_owners.") for path in secrets)
    leaks, seen = [], []
    for row in stack.status(settings):
        if row.pid is None:
            continue
        seen.append(row.name)
        environ = Path(f"/proc/{row.pid}/environ").read_bytes().decode(errors="replace")
        leaks += [f"{row.name} holds {path}" for path, value in secrets.items()
                  if value in environ and not allowed(settings, row.name, path, value)]  # fmt: skip
    assert {"kafka", "clickhouse", "flink-pipeline", "connector", "superset", "pusher"} <= set(
        seen
    ), seen
    assert not leaks, "\n".join(leaks)


def test_the_shop_owners_passwords_reach_the_push_service_alone(running_stack: Settings) -> None:
    owners = [secret.get_secret_value() for secret in running_stack.clickhouse.shop_owners.values()]
    holders = {
        row.name
        for row in stack.status(running_stack)
        if row.pid is not None
        and any(password in Path(f"/proc/{row.pid}/environ").read_bytes().decode(errors="replace")
                for password in owners)
    }  # fmt: skip
    assert holders <= {"pusher"}, holders
