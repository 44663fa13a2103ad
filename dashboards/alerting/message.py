"""A notification as zh-CN text: the header, one line per item, what was resolved.

Channels (Feishu cards, DingTalk markdown, WeCom, webhook) lay the same parts out in
their own formats; this plain text is what `erpbi alerts test` prints.
"""

from __future__ import annotations

from dashboards.alerting.engine import Notification
from dashboards.alerting.rules import AlertRule, Severity

SEVERITY_LABEL = {Severity.critical: "严重", Severity.warning: "警告", Severity.info: "提示"}
MAX_LINES = 50  # a card longer than this lists the first 50 and says how many more


def headline(rule: AlertRule, notification: Notification) -> str:
    if notification.firing:
        verb = "仍在告警" if notification.repeated else "告警"
        count = len(notification.firing)
    else:
        verb, count = "已恢复", len(notification.resolved)
    return f"【{SEVERITY_LABEL[rule.severity]}】{rule.title} {verb} {count} 项"


def item_lines(rule: AlertRule, notification: Notification) -> list[str]:
    rows = notification.firing or notification.resolved
    lines = [rule.line(dict(row)) for row in rows[:MAX_LINES]]
    if len(rows) > MAX_LINES:
        lines.append(f"…… 另有 {len(rows) - MAX_LINES} 项")
    return lines


def plain_text(rule: AlertRule, notification: Notification) -> str:
    parts = [
        headline(rule, notification),
        *(f"- {line}" for line in item_lines(rule, notification)),
    ]
    if notification.firing and notification.still_firing > len(notification.firing):
        parts.append(f"(共 {notification.still_firing} 项在告警)")
    if notification.route:
        parts.append(f"负责人: @{notification.route}")
    return "\n".join(parts)
