"""What the alert service must not forget across a restart, in one SQLite file.

- the state of every pending or firing item, per rule;
- the outbox: one delivery per message and channel, written in the same transaction as
  the state that decided it, so a crash between the two neither loses a message nor makes
  the next evaluation decide it again. A sender marks it delivered, or failed with the
  time of its next attempt, so one channel's trouble never holds back another's;
- the record of every outcome (delivered, retrying, refused, not configured), per item,
  kept here until it is written into the warehouse's ``alert_notifications``;
- silences.

SQLite (stdlib) rather than the warehouse: the state is small, changes every evaluation
and needs transactions; the warehouse gets the record of what was sent.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dashboards.alerting.engine import Evaluation, ItemState, Notification, Phase
from dashboards.alerting.rules import AlertRule
from dashboards.alerting.silences import Silence
from dashboards.state_db import StateFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS item_state (
    rule TEXT NOT NULL, item TEXT NOT NULL, phase TEXT NOT NULL, since TEXT NOT NULL,
    row TEXT NOT NULL, sent_at TEXT, PRIMARY KEY (rule, item));
DROP TABLE IF EXISTS outbox;
CREATE TABLE IF NOT EXISTS delivery (
    id INTEGER PRIMARY KEY AUTOINCREMENT, rule TEXT NOT NULL, route TEXT,
    state TEXT NOT NULL, channel TEXT NOT NULL, items TEXT NOT NULL, message TEXT NOT NULL,
    created_at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT,
    last_error TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS record (id INTEGER PRIMARY KEY AUTOINCREMENT, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS silence (
    id TEXT PRIMARY KEY, rule TEXT NOT NULL, matchers TEXT NOT NULL, ends_at TEXT NOT NULL,
    created_by TEXT NOT NULL, comment TEXT NOT NULL);
"""
DELIVERY_COLUMNS = "id, channel, created_at, attempts, next_attempt_at, last_error, message"


@dataclass(frozen=True)
class OutboxMessage:
    """One message waiting for one channel."""

    id: int
    channel: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    last_error: str
    notification: Notification


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def notification_state(notification: Notification) -> str:
    if not notification.firing:
        return "resolved"
    return "repeated" if notification.repeated else "firing"


class AlertStore(StateFile):
    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA)

    # -- item state and outbox -------------------------------------------------------
    def states(self, rule: str) -> dict[str, ItemState]:
        with self.transaction() as db:
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

    def commit(
        self,
        rule: AlertRule,
        evaluation: Evaluation,
        now: datetime,
        channels: Sequence[str],
        unconfigured: Sequence[str] = (),
    ) -> list[int]:
        """Replace the rule's item states and queue its messages, one per channel,
        atomically; a channel without a robot gets its record instead of a delivery."""
        with self.transaction() as db:
            db.execute("DELETE FROM item_state WHERE rule = ?", (rule.name,))
            db.executemany(
                "INSERT INTO item_state VALUES (?, ?, ?, ?, ?, ?)",
                [(rule.name, item, s.phase.value, s.since.isoformat(), _json(dict(s.row)),
                  s.sent_at.isoformat() if s.sent_at else None)
                 for item, s in evaluation.states.items()],
            )  # fmt: skip
            ids = []
            for notification in evaluation.notifications:
                rows = notification.firing or notification.resolved
                items = [rule.item_key(dict(row)) for row in rows]
                state = notification_state(notification)
                for channel in channels:
                    cursor = db.execute(
                        "INSERT INTO delivery (rule, route, state, channel, items, message, "
                        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (rule.name, notification.route, state, channel, _json(items),
                         _json(asdict(notification)), now.isoformat()),
                    )  # fmt: skip
                    ids.append(int(cursor.lastrowid or 0))
                for channel in unconfigured:
                    self._record(db, now, rule.name, items, state, notification.route,
                                 channel, "not_configured", 0, "", 0)  # fmt: skip
        return ids

    def outbox(self, channel: str | None = None, due_at: datetime | None = None,
               ) -> list[OutboxMessage]:  # fmt: skip
        """Messages not yet delivered, oldest first: all, one channel's, or those of one
        channel that may go at ``due_at``: from the oldest on, up to the first whose next
        attempt is later (order is kept: a resolved card never overtakes its firing)."""
        query, params = f"SELECT {DELIVERY_COLUMNS} FROM delivery", []
        conditions = []
        if channel is not None:
            conditions.append("channel = ?")
            params.append(channel)
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        with self.transaction() as db:
            rows = db.execute(query + " ORDER BY id", params).fetchall()
        if due_at is not None and channel is not None:
            # In order: the first one not yet due holds back those after it.
            waiting = [i for i, row in enumerate(rows) if row[4] and row[4] > due_at.isoformat()]
            rows = rows[: waiting[0]] if waiting else rows
        return [
            OutboxMessage(
                id,
                channel,
                datetime.fromisoformat(at),
                attempts,
                datetime.fromisoformat(next_at) if next_at else None,
                error,
                _notification(json.loads(text)),
            )  # fmt: skip
            for id, channel, at, attempts, next_at, error, text in rows
        ]

    def delivered(self, message_id: int, now: datetime, attempts: int) -> None:
        with self.transaction() as db:
            self._record_delivery(db, message_id, now, "delivered", attempts, "")
            db.execute("DELETE FROM delivery WHERE id = ?", (message_id,))

    def failed(self, message_id: int, now: datetime, attempts: int, result: str, error: str,
               retry_at: datetime | None) -> None:  # fmt: skip
        """Record a failed attempt; try again at ``retry_at``, or never (None: dropped)."""
        with self.transaction() as db:
            self._record_delivery(db, message_id, now, result, attempts, error)
            if retry_at is None:
                db.execute("DELETE FROM delivery WHERE id = ?", (message_id,))
            else:
                db.execute(
                    "UPDATE delivery SET attempts = attempts + ?, next_attempt_at = ?, "
                    "last_error = ? WHERE id = ?",
                    (attempts, retry_at.isoformat(), error, message_id),
                )

    def _record_delivery(self, db: sqlite3.Connection, message_id: int, now: datetime,
                         result: str, attempts: int, error: str) -> None:  # fmt: skip
        found = db.execute(
            "SELECT rule, items, state, route, channel FROM delivery WHERE id = ?", (message_id,)
        ).fetchone()
        if found is None:
            return
        rule, items, state, route, channel = found
        self._record(db, now, rule, json.loads(items), state, route, channel, result,
                     attempts, error, message_id)  # fmt: skip

    @staticmethod
    def _record(db: sqlite3.Connection, now: datetime, rule: str, items: Sequence[str],
                state: str, route: str | None, channel: str, result: str, attempts: int,
                error: str, message_id: int) -> None:  # fmt: skip
        db.executemany("INSERT INTO record (row) VALUES (?)", [
            (_json({"event_time": now.isoformat(), "rule": rule, "item": item, "state": state,
                    "route": route or "", "channel": channel, "result": result,
                    "attempts": attempts, "error": error, "message_id": message_id}),)
            for item in items
        ])  # fmt: skip

    # -- the record, on its way to the warehouse -------------------------------------
    def records(self, limit: int = 5000) -> list[tuple[int, dict[str, Any]]]:
        with self.transaction() as db:
            rows = db.execute("SELECT id, row FROM record ORDER BY id LIMIT ?", (limit,))
            return [(id, json.loads(row)) for id, row in rows.fetchall()]

    def forget_records(self, up_to_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM record WHERE id <= ?", (up_to_id,))

    # -- silences --------------------------------------------------------------------
    def add_silence(self, rule: str, matchers: Mapping[str, str], ends_at: datetime,
                    created_by: str = "", comment: str = "") -> Silence:  # fmt: skip
        silence = Silence(uuid.uuid4().hex[:8], rule, ends_at, dict(matchers), created_by, comment)
        with self.transaction() as db:
            db.execute(
                "INSERT INTO silence VALUES (?, ?, ?, ?, ?, ?)",
                (silence.id, rule, _json(dict(matchers)), ends_at.isoformat(), created_by,
                 comment),
            )  # fmt: skip
        return silence

    def silences(self, now: datetime | None = None) -> list[Silence]:
        """Every silence, or only those still active at ``now``."""
        with self.transaction() as db:
            rows = db.execute("SELECT * FROM silence ORDER BY ends_at").fetchall()
        found = [Silence(id, rule, datetime.fromisoformat(ends), json.loads(matchers), by, text)
                 for id, rule, matchers, ends, by, text in rows]  # fmt: skip
        return [s for s in found if now is None or s.active(now)]

    def remove_silence(self, silence_id: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM silence WHERE id = ?", (silence_id,)).rowcount > 0


def _notification(data: dict[str, Any]) -> Notification:
    return Notification(
        rule=data["rule"], route=data["route"], firing=tuple(data["firing"]),
        resolved=tuple(data["resolved"]), repeated=data["repeated"],
        still_firing=data["still_firing"],
    )  # fmt: skip
