"""The one settings model: YAML + environment, typed, secrets never printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from common.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("ERPBI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_listen_on_loopback_only() -> None:
    settings = load_settings()
    for host in (
        settings.kafka.host,
        settings.clickhouse.host,
        settings.superset.host,
        settings.simulator.host,
    ):
        assert host == "127.0.0.1"


def test_yaml_file_then_environment_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "erpbi.yaml").write_text("kafka:\n  port: 29092\nclickhouse:\n  database: shop\n")
    assert load_settings().kafka.port == 29092
    monkeypatch.setenv("ERPBI_KAFKA__PORT", "39092")
    settings = load_settings()
    assert settings.kafka.port == 39092
    assert settings.clickhouse.database == "shop"


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "elsewhere.yaml"
    config.write_text("simulator:\n  enabled: false\n")
    monkeypatch.setenv("ERPBI_CONFIG", str(config))
    assert load_settings().simulator.enabled is False


def test_secrets_are_masked_when_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERPBI_JUSHUITAN__APP_SECRET", "s3cr3t-value")
    monkeypatch.setenv("ERPBI_CLICKHOUSE__PASSWORD", "pw-value")
    settings = load_settings()
    printed = json.dumps(settings.masked_dump()) + repr(settings) + str(settings)
    assert "s3cr3t-value" not in printed
    assert "pw-value" not in printed
    assert settings.jushuitan.app_secret.get_secret_value() == "s3cr3t-value"
    assert "pw-value" not in settings.clickhouse.sqlalchemy_uri(masked=True)


def test_child_process_environment_round_trips(tmp_path: Path) -> None:
    """Mappings keep their keys' case and script (owners named Alice or 李), secrets in
    them included: the alert service @-mentions the owner the settings name."""
    settings = Settings(
        kafka={"port": 12345}, paths={"run_dir": tmp_path / "run"},  # type: ignore[arg-type]
        clickhouse={"shop_owners": {"Alice": "pw-A", "李": "pw-L"}},  # type: ignore[arg-type]
        alerts={"route_owners": {"女装": "Alice"},  # type: ignore[arg-type]
                "recipients": {"Alice": {"mobile": "13800000001"}, "李": {"mobile": "139"}}},
    )  # fmt: skip
    import os

    os.environ.update(settings.environment)
    try:
        again = load_settings()
    finally:
        for name in settings.environment:
            os.environ.pop(name, None)
    assert again == settings


def test_typos_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "erpbi.yaml").write_text("kafka:\n  prot: 1\n")
    with pytest.raises(ValidationError):
        load_settings()


def test_topic_names() -> None:
    kafka = load_settings().kafka
    assert kafka.topic("ods", "inventory") == "erp.ods.inventory"
    assert kafka.topic("dlq", "inventory") == "erp.dlq.inventory"


def test_a_service_environment_holds_only_the_secrets_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "erpbi.yaml").write_text("jushuitan:\n  app_secret: from-the-file\n")
    settings = Settings(
        clickhouse={"password": "wh-pw", "shop_owners": {"alice": "pw-A"}},  # type: ignore[arg-type]
        jushuitan={"app_secret": "app-s", "access_token": "tok"},  # type: ignore[arg-type]
        alerts={"feishu": {"url": "https://robot/hook", "secret": "sign"}},  # type: ignore[arg-type]
        kafka={"port": 12345},  # type: ignore[arg-type]
    )  # fmt: skip
    env = settings.environment_for(["clickhouse.password", "alerts"])
    values = set(env.values())
    assert {"wh-pw", "https://robot/hook", "sign"} <= values
    assert not {"app-s", "tok", "from-the-file"} & values
    assert not any("pw-A" in value for value in values)  # the owners' mapping is left out
    assert env["ERPBI_KAFKA__PORT"] == "12345"  # every other setting still goes
    # the service reads its environment only, not the YAML file beside it
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    child = load_settings()
    assert child.clickhouse.password.get_secret_value() == "wh-pw"
    assert child.jushuitan.app_secret.get_secret_value() != "from-the-file"
    assert child.clickhouse.shop_owners == {}


def test_the_superset_uri_escapes_a_password_with_url_characters() -> None:
    from urllib.parse import unquote, urlsplit

    settings = Settings(clickhouse={"password": "p@ss/w:rd#1"})  # type: ignore[arg-type]
    url = urlsplit(settings.clickhouse.sqlalchemy_uri())  # as SQLAlchemy splits it
    assert unquote(url.password or "") == "p@ss/w:rd#1"
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", 18123, "/erp")


def test_superset_beyond_this_machine_refuses_the_local_defaults() -> None:
    from erpbi.services import by_name
    from erpbi.stack import ServiceStartError

    assert Settings().superset.unsafe_defaults() == []  # loopback: the defaults are fine
    wide = Settings(superset={"host": "0.0.0.0"})  # type: ignore[arg-type]
    assert wide.superset.unsafe_defaults() == ["superset.admin_password", "superset.secret_key"]
    with pytest.raises(ServiceStartError, match="superset.admin_password and superset.secret_key"):
        prepare = by_name("superset").prepare
        assert prepare is not None
        prepare(wide)
    own = Settings(superset={"host": "0.0.0.0", "admin_password": "a-long-one",  # type: ignore[arg-type]
                             "secret_key": "k" * 32})  # fmt: skip
    assert own.superset.unsafe_defaults() == []
