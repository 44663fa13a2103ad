"""What the alert service must not forget across a restart, in one SQLite file.

- the state of every pending or firing item, per rule;
- the outbox: every message an evaluation decided to send, written in the same
  transaction as the state that decided it, so a crash between the two neither loses a
  message nor makes the next evaluation decide it again; senders mark it delivered;
- silences.

SQLite (stdlib) rather than the warehouse: the state is small, changes every evaluation
and needs transactions; the warehouse gets the record of what was sent.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dashboards.alerting.engine import Evaluation, ItemState, Notification, Phase
from dashboards.alerting.silences import Silence

SCHEMA = """
CREATE TABLE IF NOT EXISTS item_state (
    rule TEXT NOT NULL, item TEXT NOT NULL, phase TEXT NOT NULL, since TEXT NOT NULL,
    row TEXT NOT NULL, sent_at TEXT, PRIMARY KEY (rule, item));
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, rule TEXT NOT NULL, route TEXT,
    state TEXT NOT NULL, message TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS silence (
    id TEXT PRIMARY KEY, rule TEXT NOT NULL, matchers TEXT NOT NULL, ends_at TEXT NOT NULL,
    created_by TEXT NOT NULL, comment TEXT NOT NULL);
"""


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    created_at: datetime
    notification: Notification


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


class AlertStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._connection() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:  # one transaction: committed on success, rolled back on error
                yield db
        finally:
            db.close()

    # -- item state and outbox -------------------------------------------------------
    def states(self, rule: str) -> dict[str, ItemState]:
        with self._connection() as db:
            rows = db.execute(
                "SELECT item, phase, since, row, sent_at FROM item_state WHERE rule = ?", (rule,)
            ).fetchall()
        return {
            item: ItemState(
                Phase(phase),
                datetime.fromisoformat(since),
                json.loads(row),
                datetime.fromisoformat(sent_at) if sent_at else None,
            )  # fmt: skip
            for item, phase, since, row, sent_at in rows
        }

    def commit(self, rule: str, evaluation: Evaluation, now: datetime) -> list[int]:
        """Replace the rule's item states and queue its messages, atomically."""
        with self._connection() as db:
            db.execute("DELETE FROM item_state WHERE rule = ?", (rule,))
            db.executemany(
                "INSERT INTO item_state VALUES (?, ?, ?, ?, ?, ?)",
                [(rule, item, s.phase.value, s.since.isoformat(), _json(dict(s.row)),
                  s.sent_at.isoformat() if s.sent_at else None)
                 for item, s in evaluation.states.items()],
            )  # fmt: skip
            ids = []
            for notification in evaluation.notifications:
                cursor = db.execute(
                    "INSERT INTO outbox (rule, route, state, message, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (rule, notification.route, notification.state,
                     _json(asdict(notification)), now.isoformat()),
                )  # fmt: skip
                ids.append(int(cursor.lastrowid or 0))
        return ids

    def outbox(self) -> list[OutboxMessage]:
        """Messages not yet delivered, oldest first."""
        with self._connection() as db:
            rows = db.execute("SELECT id, created_at, message FROM outbox ORDER BY id").fetchall()
        return [OutboxMessage(id, datetime.fromisoformat(at), _notification(json.loads(text)))
                for id, at, text in rows]  # fmt: skip

    def delivered(self, message_id: int) -> None:
        with self._connection() as db:
            db.execute("DELETE FROM outbox WHERE id = ?", (message_id,))

    # -- silences --------------------------------------------------------------------
    def add_silence(self, rule: str, matchers: Mapping[str, str], ends_at: datetime,
                    created_by: str = "", comment: str = "") -> Silence:  # fmt: skip
        silence = Silence(uuid.uuid4().hex[:8], rule, ends_at, dict(matchers), created_by, comment)
        with self._connection() as db:
            db.execute(
                "INSERT INTO silence VALUES (?, ?, ?, ?, ?, ?)",
                (silence.id, rule, _json(dict(matchers)), ends_at.isoformat(), created_by,
                 comment),
            )  # fmt: skip
        return silence

    def silences(self, now: datetime | None = None) -> list[Silence]:
        """Every silence, or only those still active at ``now``."""
        with self._connection() as db:
            rows = db.execute("SELECT * FROM silence ORDER BY ends_at").fetchall()
        found = [Silence(id, rule, datetime.fromisoformat(ends), json.loads(matchers), by, text)
                 for id, rule, matchers, ends, by, text in rows]  # fmt: skip
        return [s for s in found if now is None or s.active(now)]

    def remove_silence(self, silence_id: str) -> bool:
        with self._connection() as db:
            return db.execute("DELETE FROM silence WHERE id = ?", (silence_id,)).rowcount > 0


def _notification(data: dict[str, Any]) -> Notification:
    return Notification(
        rule=data["rule"], route=data["route"], firing=tuple(data["firing"]),
        resolved=tuple(data["resolved"]), repeated=data["repeated"],
        still_firing=data["still_firing"],
    )  # fmt: skip
