"""The alert service (`erpbi alerts run`, started by `erpbi up`): evaluate, then deliver.

Every ``alerts.evaluate_every_seconds`` each rule's query runs on the warehouse, the
engine decides what changed, and the store keeps the new states together with one
delivery per message and channel. One sender thread per configured channel works through
that channel's deliveries in order: a robot that throttles or fails is retried with
backoff (tenacity, in :class:`~dashboards.notifiers.robots.Robot`) for
``alerts.attempt_seconds``, then again every ``alerts.retry_every_seconds`` until
``alerts.give_up_after_hours``; another channel's sender is never held up by it. When the
vendor's rate window is full and several messages wait, they go out as one (batched
rather than dropped). Every outcome is recorded per item, first in the store, then in the
warehouse table ``alert_notifications``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from common.settings import Settings
from dashboards.alerting.engine import Notification, evaluate
from dashboards.alerting.message import SEVERITY_LABEL, headline, item_lines
from dashboards.alerting.metrics import EVALUATIONS, NOTIFICATIONS
from dashboards.alerting.rules import AlertRule
from dashboards.alerting.store import AlertStore, OutboxMessage
from dashboards.notifiers.message import ChatMessage, Vendor, fits, payload
from dashboards.notifiers.robots import DeliveryRefused, Robot, TryAgain

log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")
RECORD_COLUMNS = ("event_time", "rule", "item", "state", "route", "channel", "result",
                  "attempts", "error", "message_id")  # fmt: skip
SENDER_IDLE_SECONDS = 5.0  # a sender with nothing due looks again after this, or when woken

Rows = list[dict[str, Any]]


def shanghai_now() -> datetime:
    """Alert times are Asia/Shanghai wall-clock times, as the operators read them."""
    return datetime.now(SHANGHAI).replace(tzinfo=None)


def state_file(settings: Settings) -> Path:
    return settings.alerts.state_file or settings.paths.data_dir / "alerts" / "alerts.sqlite"


def heartbeat_file(settings: Settings) -> Path:
    return state_file(settings).with_name("service.json")


def screen_link(settings: Settings, slug: str | None) -> str | None:
    if not slug:
        return None
    base = (settings.alerts.screen_base_url or settings.superset.url).rstrip("/")
    return f"{base}/superset/dashboard/{slug}/"


def chat_message(settings: Settings, rule: AlertRule, notification: Notification) -> ChatMessage:
    """A notification as a vendor-neutral chat message: its headline, one line per item,
    the screen's link and the owner to @-mention."""
    lines = item_lines(rule, notification)
    if notification.firing and notification.still_firing > len(notification.firing):
        lines.append(f"(共 {notification.still_firing} 项在告警)")
    owner = None
    if notification.route:
        owner = settings.alerts.route_owners.get(notification.route, notification.route)
        lines.append(f"负责人: {owner}")
    severity = rule.severity.value if notification.firing else "info"
    return ChatMessage(headline(rule, notification), severity, tuple(lines),
                       link=screen_link(settings, rule.screen),
                       mentions=(owner,) if owner else ())  # fmt: skip


def batched(messages: list[ChatMessage]) -> ChatMessage:
    """Several waiting messages as one, when the vendor's window has no room for each."""
    severities = [m.severity for m in messages]
    worst = next((s for s in SEVERITY_LABEL if s.value in severities), None)
    lines = [line for m in messages for line in (f"**{m.title}**", *m.lines)]
    mentions = tuple(dict.fromkeys(name for m in messages for name in m.mentions))
    link = next((m.link for m in messages if m.link), None)
    return ChatMessage(f"【告警汇总】{len(messages)} 条通知", worst.value if worst else "info",
                       tuple(lines), link=link, mentions=mentions)  # fmt: skip


@dataclass
class AlertService:
    settings: Settings
    rules: Mapping[str, AlertRule]
    store: AlertStore
    query: Callable[[str], Rows]
    insert_records: Callable[[list[dict[str, Any]]], None]
    clock: Callable[[], datetime] = shanghai_now
    robots: dict[str, Robot] = field(default_factory=dict)
    evaluate_now: threading.Event = field(default_factory=threading.Event)  # a relay came in
    _wake: dict[str, threading.Event] = field(default_factory=dict)

    def __post_init__(self) -> None:
        alerts = self.settings.alerts
        for vendor in Vendor:
            robot_settings = getattr(alerts, vendor.value)
            if robot_settings.configured and vendor.value not in self.robots:
                self.robots[vendor.value] = Robot(vendor, robot_settings,
                                                  give_up_after=alerts.attempt_seconds)  # fmt: skip
        self._wake = {channel: threading.Event() for channel in self.robots}

    # -- evaluation ------------------------------------------------------------------
    def evaluate_all(self) -> int:
        """Run every rule once; returns how many messages were queued."""
        queued = 0
        for rule in self.rules.values():
            now = self.clock()
            try:
                rows = self.query(rule.query)
            except Exception as error:  # noqa: BLE001 - one rule's failure stops no other
                log.warning("rule %s: its query failed: %s", rule.name, error)
                EVALUATIONS.labels("failed").inc()
                continue
            EVALUATIONS.labels("ok").inc()
            evaluation = evaluate(rule, rows, now, self.store.states(rule.name),
                                  self.store.silences(now=now))  # fmt: skip
            channels = [c for c in rule.channels if c in self.robots]
            missing = [c for c in rule.channels if c not in self.robots]
            queued += len(self.store.commit(rule, evaluation, now, channels, missing))
            if evaluation.notifications:
                log.info("rule %s: %d firing, %d pending, %d silenced; %d messages",
                         rule.name, evaluation.firing, evaluation.pending, evaluation.silenced,
                         len(evaluation.notifications))  # fmt: skip
                for channel in channels:
                    self._wake[channel].set()
        return queued

    # -- delivery --------------------------------------------------------------------
    def deliver_due(self, channel: str) -> int:
        """Send this channel's due messages, in order; returns how many were delivered.
        A message the vendor cannot take now holds back the ones after it (until its retry
        time), so a resolved card never overtakes its firing card."""
        robot = self.robots[channel]
        due = self.store.outbox(channel, due_at=self.clock())
        delivered = 0
        while due:
            take = self._batch(robot, due)
            due = due[len(take) :]
            sent = self._send(robot, take)
            if sent is None:
                break
            delivered += sent
        return delivered

    def _batch(self, robot: Robot, due: list[OutboxMessage]) -> list[OutboxMessage]:
        """The next message, or, when the vendor's window is full, as many of the waiting
        ones as one card holds whole (batched rather than dropped or cut)."""
        take = due[:1]
        if len(due) == 1 or robot.window.would_wait() <= 0:
            return take
        recipients = self.settings.alerts.recipients
        for message in due[1:]:
            chats = self._chats([*take, message])
            if len(chats) > 1 and not fits(robot.vendor, batched(chats), recipients):
                break
            take.append(message)
        return take

    def _chats(self, messages: list[OutboxMessage]) -> list[ChatMessage]:
        return [chat_message(self.settings, self.rules[m.notification.rule], m.notification)
                for m in messages if m.notification.rule in self.rules]  # fmt: skip

    def _send(self, robot: Robot, messages: list[OutboxMessage]) -> int | None:
        """Deliver ``messages`` as one message; the number delivered, or None when the
        vendor cannot take it now (it waits for its retry time, and so do the ones after)."""
        now = self.clock()
        for gone in [m for m in messages if m.notification.rule not in self.rules]:
            self.store.failed(gone.id, now, 0, "abandoned", "the rule no longer exists", None)
        messages = [m for m in messages if m.notification.rule in self.rules]
        chats = self._chats(messages)
        if not chats:
            return 0
        chat = chats[0] if len(chats) == 1 else batched(chats)
        body = payload(robot.vendor, chat, self.settings.alerts.recipients)
        try:
            sent = robot.send(body)
        except TryAgain as error:
            self._failed(messages, error)
            return None
        except DeliveryRefused as error:
            self._failed(messages, error)  # no retry helps: recorded and dropped
            return 0
        now = self.clock()
        for message in messages:
            self.store.delivered(message.id, now, sent.attempts)
        NOTIFICATIONS.labels(robot.vendor.value, "delivered").inc(len(messages))
        log.info("%s: delivered %s after %d attempts", robot.vendor.value,
                 " + ".join(c.title for c in chats), sent.attempts)  # fmt: skip
        return len(messages)

    def _failed(self, messages: list[OutboxMessage], error: Exception) -> None:
        alerts, now = self.settings.alerts, self.clock()
        refused = isinstance(error, DeliveryRefused)
        for message in messages:
            too_old = now - message.created_at > timedelta(hours=alerts.give_up_after_hours)
            result = "refused" if refused else "abandoned" if too_old else "retrying"
            retry_at = None if refused or too_old else now + timedelta(
                seconds=alerts.retry_every_seconds)  # fmt: skip
            self.store.failed(message.id, now, 1, result, str(error), retry_at)
            NOTIFICATIONS.labels(message.channel, result).inc()
        if refused:
            log.error("%s: the vendor refused %d messages (%s): recorded, not retried",
                      messages[0].channel, len(messages), error)  # fmt: skip
        else:
            log.warning("%s: %d messages not delivered (%s); next try in %.0f s",
                        messages[0].channel, len(messages), error,
                        alerts.retry_every_seconds)  # fmt: skip

    def flush_records(self) -> int:
        """Write the recorded outcomes into the warehouse; kept here until that works."""
        records = self.store.records()
        if not records:
            return 0
        rows = [dict(row, event_time=datetime.fromisoformat(row["event_time"]).replace(
            tzinfo=SHANGHAI)) for _, row in records]  # fmt: skip
        try:
            self.insert_records(rows)
        except Exception as error:  # noqa: BLE001 - the warehouse may be restarting
            log.warning("%d notification records wait for the warehouse: %s", len(rows), error)
            return 0
        self.store.forget_records(records[-1][0])
        return len(rows)

    # -- the loop ----------------------------------------------------------------------
    def run(self, stop: threading.Event, heartbeat: Path | None = None) -> None:
        senders = [threading.Thread(target=self._sender, args=(channel, stop),
                                    name=f"alerts-{channel}", daemon=True)
                   for channel in self.robots]  # fmt: skip
        for sender in senders:
            sender.start()

        def wake_on_stop() -> None:
            stop.wait()
            self.evaluate_now.set()

        threading.Thread(target=wake_on_stop, name="alerts-stop", daemon=True).start()
        every = self.settings.alerts.evaluate_every_seconds
        while not stop.is_set():
            started = time.monotonic()
            self.evaluate_all()
            self.flush_records()
            if heartbeat is not None:
                self.beat(heartbeat, every)
            self.evaluate_now.wait(max(0.0, every - (time.monotonic() - started)))
            self.evaluate_now.clear()
        for channel in self.robots:
            self._wake[channel].set()
        for sender in senders:
            sender.join(timeout=5)
        self.flush_records()

    def _sender(self, channel: str, stop: threading.Event) -> None:
        wake = self._wake[channel]
        while not stop.is_set():
            wake.clear()
            try:
                self.deliver_due(channel)
            except Exception:  # noqa: BLE001 - keep the channel alive, say why
                log.exception("%s: delivery loop failed; trying again", channel)
            wake.wait(SENDER_IDLE_SECONDS)

    def beat(self, path: Path, every: float) -> None:
        now = self.clock()
        beat = {"pid": os.getpid(), "evaluated_at": now.isoformat(timespec="seconds"),
                "next_evaluation": (now + timedelta(seconds=every)).isoformat(timespec="seconds"),
                "rules": sorted(self.rules), "channels": sorted(self.robots)}  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(beat, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
