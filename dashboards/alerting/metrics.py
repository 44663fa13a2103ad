"""The alert service's own Prometheus metrics (monitoring/METRICS.md, job ``alerter``),
served with the relay on ``monitoring.alerter_port``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, make_wsgi_app

REGISTRY = CollectorRegistry()
EVALUATIONS = Counter("erpbi_alert_evaluations", "Rule evaluations, by outcome (ok: the "
                      "rule's query answered; failed: it did not)", ["result"],
                      registry=REGISTRY)  # fmt: skip
NOTIFICATIONS = Counter("erpbi_alert_notifications", "Messages sent to a chat robot, by "
                        "channel and outcome (delivered, retrying, refused, abandoned)",
                        ["channel", "result"], registry=REGISTRY)  # fmt: skip
RELAYED = Counter("erpbi_alert_relay_alerts", "Alerts Alertmanager relayed, by status",
                  ["status"], registry=REGISTRY)  # fmt: skip


def metrics_app():  # type: ignore[no-untyped-def]
    return make_wsgi_app(REGISTRY)
