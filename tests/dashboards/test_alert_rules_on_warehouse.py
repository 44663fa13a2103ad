"""Every alert rule in the repo runs on the real warehouse engine, migrated, and returns
the columns its item, value, route and message use."""

from __future__ import annotations

import string

import pytest

from common.settings import ClickHouseSettings, Settings
from dashboards.alerting.cli import main
from dashboards.alerting.rules import load_rules
from warehouse.client import connect

pytestmark = pytest.mark.integration


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("name", sorted(load_rules()))
def test_a_rule_query_runs_and_returns_what_its_message_needs(
    name: str, clickhouse_settings: ClickHouseSettings
) -> None:
    rule = load_rules()[name]
    client = connect(clickhouse_settings)
    try:
        client.query(rule.query)  # runs
        described = client.query(f"DESCRIBE ({rule.query})").result_rows  # even when empty
    finally:
        client.close()
    needed = {*rule.item, rule.value, *template_fields(rule.template)}
    if rule.route_by:
        needed.add(rule.route_by)
    missing = needed - {row[0] for row in described}
    assert not missing, f"{name}: the query returns no {sorted(missing)}"


def test_alerts_test_prints_what_a_rule_finds_now_and_sends_nothing(
    clickhouse_server: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(clickhouse_server, ["test", "data_freshness"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("data_freshness: ") and "cross the threshold" in out
    assert main(clickhouse_server, ["status"]) == 0
    assert "messages waiting to be sent: 0" in capsys.readouterr().out
