"""The ops alerts Alertmanager says are firing, kept beside the alert store's state.

A firing alert is kept (by fingerprint) until Alertmanager says it resolved; one it has
not repeated for ``STALE_AFTER`` (Alertmanager repeats firing groups every 2 minutes, see
erpbi/monitoring.py) is taken as gone, so a lost "resolved" cannot leave it firing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dashboards.alerting.relay import RelayedAlert
from dashboards.state_db import StateFile

STALE_AFTER = timedelta(minutes=10)
SCHEMA = """
CREATE TABLE IF NOT EXISTS relayed_alert (
    fingerprint TEXT PRIMARY KEY, alertname TEXT NOT NULL, row TEXT NOT NULL,
    seen_at TEXT NOT NULL);
"""


class RelayedAlertStore(StateFile):
    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA)

    def accept(self, alerts: list[RelayedAlert], now: datetime) -> None:
        with self.transaction() as db:
            for alert in alerts:
                if alert.status == "resolved":
                    db.execute("DELETE FROM relayed_alert WHERE fingerprint = ?",
                               (alert.fingerprint,))  # fmt: skip
                    continue
                db.execute(
                    "INSERT OR REPLACE INTO relayed_alert VALUES (?, ?, ?, ?)",
                    (alert.fingerprint, alert.alertname,
                     json.dumps(alert.row(), ensure_ascii=False), now.isoformat()),
                )  # fmt: skip

    def firing(self, alertname: str, now: datetime) -> list[dict[str, Any]]:
        oldest = (now - STALE_AFTER).isoformat()
        with self.transaction() as db:
            db.execute("DELETE FROM relayed_alert WHERE seen_at < ?", (oldest,))
            rows = db.execute("SELECT row FROM relayed_alert WHERE alertname = ? "
                              "ORDER BY fingerprint", (alertname,)).fetchall()  # fmt: skip
        return [json.loads(row) for (row,) in rows]
