"""Ops alerts from Prometheus, relayed by Alertmanager into the alert service.

Alertmanager has no Feishu, DingTalk or WeCom receiver; its ``webhook_configs`` post JSON
to ``http://127.0.0.1:<monitoring.alerter_port>/alertmanager``. The relay keeps the alerts
that fire (by fingerprint) in the alert store, and each alert of the Prometheus rule files
becomes a rule of the alert service whose rows are those alerts. So an ops alert is
worded, grouped, silenced (``erpbi alerts silence api_throttling --for 1h``), delivered,
retried and recorded in ``alert_notifications`` exactly as a business alert is: one
delivery path, one silence command, one delivery log.

The webhook's format (version 4): ``{"version": "4", "status": "firing", "alerts": [{
"status": "firing" | "resolved", "labels": {...}, "annotations": {...}, "startsAt": ...,
"endsAt": ..., "fingerprint": ...}], ...}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dashboards.alerting.rules import AlertRule, Severity

log = logging.getLogger(__name__)
RELAY_QUERY = "alertmanager:"  # an ops rule's query: the relayed alerts of that name
OPS_SCREEN = "ops-monitor"
SERIES_LABELS_LEFT_OUT = ("alertname", "severity", "job", "instance")


class RelayedAlert(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    fingerprint: str = Field(min_length=1)

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def series(self) -> str:
        """The alert's own labels, as the item key (``stream=inventory``)."""
        shown = {k: v for k, v in sorted(self.labels.items())
                 if k not in SERIES_LABELS_LEFT_OUT}  # fmt: skip
        where = self.labels.get("job") if not shown else None
        return ",".join(f"{k}={v}" for k, v in shown.items()) or where or self.alertname

    def row(self) -> dict[str, Any]:
        summary = self.annotations.get("summary") or self.annotations.get("title") or ""
        return {"series": self.series, "summary": summary, "value": 1,
                "fingerprint": self.fingerprint, **self.labels}  # fmt: skip


class AlertmanagerWebhook(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: Literal["4"]
    alerts: list[RelayedAlert]


class WebhookRejected(ValueError):
    """The body is not an Alertmanager webhook (version 4): answered 400 with the reason."""


def parse_webhook(body: bytes) -> AlertmanagerWebhook:
    try:
        return AlertmanagerWebhook.model_validate(json.loads(body))
    except (ValueError, ValidationError) as error:
        raise WebhookRejected(f"not an Alertmanager webhook (version 4): {error}") from error


def ops_rules(rules_dir: Path, channels: Iterable[str]) -> dict[str, AlertRule]:
    """Each ``alert:`` of the Prometheus rule files as a rule of the alert service."""
    rules: dict[str, AlertRule] = {}
    for path in sorted(rules_dir.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in document.get("groups", []):
            for spec in group.get("rules", []):
                if "alert" not in spec:
                    continue
                annotations = spec.get("annotations", {})
                severity = spec.get("labels", {}).get("severity", "warning")
                rules[spec["alert"]] = AlertRule(
                    name=spec["alert"], title=annotations.get("title", spec["alert"]),
                    severity=Severity(severity), description=annotations.get("summary", ""),
                    query=f"{RELAY_QUERY}{spec['alert']}", item=("series",),
                    threshold=0, template="{summary}", channels=tuple(channels),
                    screen=OPS_SCREEN,
                )  # fmt: skip
    return rules


def is_relayed(rule: AlertRule) -> bool:
    return rule.query.startswith(RELAY_QUERY)


def relay_app(
    accept: Callable[[AlertmanagerWebhook], None], metrics_app: Callable[..., Any]
) -> Callable[..., Any]:
    """The alert service's HTTP face: ``POST /alertmanager`` (the relay) and ``/metrics``."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == "/metrics":
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]
        if path != "/alertmanager":
            return _answer(start_response, "404 Not Found", {"error": "unknown path"})
        if method != "POST":
            return _answer(start_response, "405 Method Not Allowed", {"error": "POST only"})
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            webhook = parse_webhook(environ["wsgi.input"].read(length))
        except WebhookRejected as error:
            log.warning("relay: %s", error)
            return _answer(start_response, "400 Bad Request", {"error": str(error)})
        accept(webhook)
        return _answer(start_response, "200 OK", {"status": "ok", "alerts": len(webhook.alerts)})

    return app


def _answer(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body, ensure_ascii=False).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])  # fmt: skip
    return [data]
