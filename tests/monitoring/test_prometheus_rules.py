"""The monitoring configuration as Prometheus and Alertmanager read it: the rules pass
promtool, behave as the on-call expects on recorded series (promtool's rule tests), and
the configurations `erpbi up` renders (and the compose copies) are accepted by promtool
and amtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from common.settings import PROJECT_ROOT
from dashboards.alerting.relay import ops_rules
from erpbi.monitoring import alertmanager_config, binary, write_configs
from testkit.support import isolated_settings

pytestmark = pytest.mark.unit
RULES = PROJECT_ROOT / "monitoring" / "rules"
RULE_TESTS = Path(__file__).with_name("rules_test.yml")


def run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_every_rule_file_passes_promtool() -> None:
    files = sorted(RULES.glob("*.yml"))
    assert files
    said = run(binary("promtool"), "check", "rules", *map(str, files))
    assert "SUCCESS" in said


def test_alerts_fire_and_stay_quiet_as_the_on_call_expects(tmp_path: Path) -> None:
    """A 429 storm pages and resolves, a stuck pipeline pages, a quiet ERP does not, ..."""
    cases = tmp_path / "rules_test.yml"
    cases.write_text(RULE_TESTS.read_text(encoding="utf-8").replace("RULES_DIR", str(RULES)))
    assert "SUCCESS" in run(binary("promtool"), "test", "rules", str(cases))


def test_rendered_configurations_are_accepted(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path / "run")
    prometheus, alertmanager = write_configs(settings)
    assert "SUCCESS" in run(binary("promtool"), "check", "config", str(prometheus))
    assert "SUCCESS" in run(binary("amtool"), "check-config", str(alertmanager))
    jobs = {job["job_name"] for job in yaml.safe_load(prometheus.read_text())["scrape_configs"]}
    assert {"connector", "pipeline", "warehouse", "superset", "alerter", "pusher",
            "recorder"} <= jobs  # fmt: skip
    webhook = alertmanager_config(settings)["receivers"][0]["webhook_configs"][0]
    assert webhook["url"] == f"http://127.0.0.1:{settings.monitoring.alerter_port}/alertmanager"
    assert webhook["send_resolved"] is True


def test_compose_configurations_are_accepted() -> None:
    compose = PROJECT_ROOT / "monitoring" / "compose"
    assert "SUCCESS" in run(binary("promtool"), "check", "config",
                            str(compose / "prometheus.yml"))  # fmt: skip
    assert "SUCCESS" in run(binary("amtool"), "check-config", str(compose / "alertmanager.yml"))


def test_every_prometheus_alert_is_a_rule_of_the_alert_service_in_chinese() -> None:
    """So `erpbi alerts silence api_throttling` and the delivery log cover ops alerts too."""
    rules = ops_rules(RULES, ["feishu"])
    assert {"stream_freshness", "api_throttling", "api_errors", "kafka_lag_growing",
            "flink_checkpoint_failures", "flink_job_down", "warehouse_slow",
            "service_down", "warehouse_peer_copy_stalled"} <= set(rules)  # fmt: skip
    for rule in rules.values():
        assert any("\u4e00" <= ch <= "\u9fff" for ch in rule.title), rule.name
        assert rule.screen == "ops-monitor"
