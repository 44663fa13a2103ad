"""Prometheus's alerts relayed by Alertmanager into the alert service: the same Feishu card
path, silences and delivery record as the business rules, and a strict webhook."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dashboards.alerting.relay import AlertmanagerWebhook, ops_rules, parse_webhook, relay_app
from dashboards.alerting.relayed import STALE_AFTER, RelayedAlertStore
from dashboards.alerting.service import AlertService
from dashboards.alerting.store import AlertStore
from testkit.chat_receivers import ChatReceivers
from testkit.support import isolated_settings

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 3, 10, 0, 0)


def webhook(status: str, summary: str = "近 1 分钟 40% 的接口调用被限流(429)") -> bytes:
    """What Alertmanager 0.25 posts (webhook version 4), trimmed to one alert."""
    alert = {"status": status, "labels": {"alertname": "api_throttling", "severity": "warning"},
             "annotations": {"title": "聚水潭接口限流", "summary": summary},
             "startsAt": "2026-12-03T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://127.0.0.1:19090/graph",
             "fingerprint": "5c1d0f0e1a2b3c4d"}  # fmt: skip
    return json.dumps({"version": "4", "groupKey": '{}:{alertname="api_throttling"}',
                       "truncatedAlerts": 0, "status": status, "receiver": "erpbi-relay",
                       "groupLabels": {"alertname": "api_throttling"}, "commonLabels": {},
                       "commonAnnotations": {}, "externalURL": "http://127.0.0.1:19094",
                       "alerts": [alert]}, ensure_ascii=False).encode()  # fmt: skip


@pytest.fixture
def receivers() -> Iterator[ChatReceivers]:
    with ChatReceivers() as running:
        yield running


class Relay:
    def __init__(self, tmp_path: Path, receivers: ChatReceivers) -> None:
        settings = isolated_settings(tmp_path / "run")
        state = tmp_path / "alerts.sqlite"
        self.settings = settings.model_copy(update={"alerts": settings.alerts.model_copy(
            update={"feishu": receivers.settings().feishu, "state_file": state})})  # fmt: skip
        self.now = T0
        self.relayed = RelayedAlertStore(state)
        self.store = AlertStore(state)
        self.records: list[dict[str, Any]] = []
        rules = ops_rules(self.settings.monitoring.rules_dir, ["feishu"])
        self.service = AlertService(
            self.settings, rules, self.store,
            query=lambda sql: self.relayed.firing(sql.split(":", 1)[1], self.now),
            insert_records=self.records.extend, clock=lambda: self.now)  # fmt: skip
        self.receivers = receivers

    def post(self, body: bytes) -> tuple[str, dict[str, Any]]:
        answer: dict[str, str] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            answer["status"] = status

        def accept(hook: AlertmanagerWebhook) -> None:
            self.relayed.accept(hook.alerts, self.now)

        app = relay_app(accept, metrics_app=lambda e, s: [])
        environ = {"PATH_INFO": "/alertmanager", "REQUEST_METHOD": "POST",
                   "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}  # fmt: skip
        out = b"".join(app(environ, start_response))
        return answer["status"], json.loads(out)

    def tick(self, seconds: float = 15) -> list[str]:
        before = len(self.receivers.received["feishu"])
        self.now += timedelta(seconds=seconds)
        self.service.evaluate_all()
        self.service.deliver_due("feishu")
        self.service.flush_records()
        return [str(a.body["card"]) for a in self.receivers.received["feishu"][before:]]


def test_a_relayed_alert_is_one_card_when_it_fires_and_one_when_it_resolves(
    tmp_path: Path, receivers: ChatReceivers
) -> None:
    relay = Relay(tmp_path, receivers)
    status, _ = relay.post(webhook("firing"))
    assert status.startswith("200")
    cards = relay.tick()
    assert len(cards) == 1
    assert "聚水潭接口限流" in cards[0] and "40% 的接口调用被限流" in cards[0]
    relay.post(webhook("firing"))  # Alertmanager repeats the group: nothing new to say
    assert relay.tick() == []
    relay.post(webhook("resolved"))
    cards = relay.tick()
    assert len(cards) == 1 and "已恢复" in cards[0]
    outcomes = [(r["rule"], r["state"], r["result"]) for r in relay.records]
    assert outcomes == [("api_throttling", "firing", "delivered"),
                        ("api_throttling", "resolved", "delivered")]  # fmt: skip


def test_the_one_silence_command_holds_ops_alerts_too(
    tmp_path: Path, receivers: ChatReceivers
) -> None:
    relay = Relay(tmp_path, receivers)
    relay.store.add_silence("api_throttling", {}, T0 + timedelta(hours=1), "oncall", "已知限流")
    relay.post(webhook("firing"))
    assert relay.tick() == []
    relay.now += timedelta(hours=1)
    relay.post(webhook("firing"))  # Alertmanager's repeat: it still fires
    assert len(relay.tick()) == 1  # the silence ended while it still fires: sent once


def test_an_alert_alertmanager_stopped_repeating_is_taken_as_resolved(
    tmp_path: Path, receivers: ChatReceivers
) -> None:
    relay = Relay(tmp_path, receivers)
    relay.post(webhook("firing"))
    assert len(relay.tick()) == 1
    cards = relay.tick(STALE_AFTER.total_seconds() + 1)
    assert len(cards) == 1 and "已恢复" in cards[0]


def test_the_relay_refuses_what_is_not_an_alertmanager_webhook(
    tmp_path: Path, receivers: ChatReceivers
) -> None:
    relay = Relay(tmp_path, receivers)
    status, body = relay.post(b'{"version": "3", "alerts": []}')
    assert status.startswith("400") and "version 4" in body["error"]
    status, body = relay.post(b"not json")
    assert status.startswith("400")
    with pytest.raises(ValueError, match="Alertmanager webhook"):
        parse_webhook(b'{"version": "4", "alerts": [{"status": "firing"}]}')
