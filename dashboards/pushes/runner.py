"""One push, from the warehouse and the screen to every channel, or loudly not at all.

The screen is rendered and checked first: a push whose picture is wrong sends nothing to
its channels and says so on the ops channel (``push.ops_channel``) instead. Then the
content (KPIs, contributors, insights) is read under the push's login, and each channel
gets the picture its own way (see ``images.py``); one channel's failure does not stop the
others. Every outcome goes into ``alert_notifications`` (rule ``push:<name>``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from common.settings import Settings
from dashboards.alerting.service import RECORD_COLUMNS, screen_link
from dashboards.notifiers.message import ChatMessage, Vendor, payload, wecom_image
from dashboards.notifiers.robots import DeliveryRefused, Robot, TryAgain
from dashboards.pushes.content import PushContent, build
from dashboards.pushes.images import NO_ROUTE, ImageUploadFailed, image_for, publish
from dashboards.pushes.render import PushRenderFailed, render
from dashboards.pushes.spec import ADMIN, PushSpec

log = logging.getLogger(__name__)


@dataclass
class PushOutcome:
    push: str
    day: date
    png: bytes = b""
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # channel -> bodies
    results: dict[str, str] = field(default_factory=dict)  # channel -> delivered / why not
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(r == "delivered" for r in self.results.values())


def warehouse_login(settings: Settings, push: PushSpec) -> Any:
    """A warehouse client as the push's user: a shop owner's own login (row policies)."""
    from warehouse.client import connect

    clickhouse = settings.clickhouse
    if push.as_user not in (ADMIN, settings.superset.admin_user):
        password = clickhouse.shop_owners.get(push.as_user, SecretStr(""))
        clickhouse = clickhouse.model_copy(update={"user": push.as_user, "password": password})
    return connect(clickhouse)


def compose(
    settings: Settings,
    push: PushSpec,
    day: date,
    content: PushContent,
    png: bytes,
) -> dict[str, list[dict[str, Any]]]:
    """Each channel's request bodies, in order (WeCom: the picture, then the text). A
    picture that cannot reach a vendor (no route, a refused upload, too big) leaves that
    vendor's message with the screen's link and a line saying why."""
    url = publish(settings, png, push.name, day)
    bodies: dict[str, list[dict[str, Any]]] = {}
    for vendor in push.channels:
        lines, failed = content.lines(), False
        try:
            image = image_for(vendor, settings, png, url)
            first = [wecom_image(png)] if image is not None and vendor is Vendor.wecom else []
        except (ImageUploadFailed, ValueError, OSError) as error:
            log.error("push %s: no picture for %s: %s", push.name, vendor.value, error)
            image, first, failed = None, [], True
            lines.append(f"大屏截图未能发送({error}),请点链接查看")
        if image is None and not failed and vendor in NO_ROUTE:
            lines.append(NO_ROUTE[vendor])
        message = ChatMessage(
            f"{push.title} {day:%m-%d}",
            "info",
            tuple(lines),
            link=screen_link(settings, push.screen),
            mentions=push.mentions,
            image=image,
        )
        bodies[vendor.value] = [*first, payload(vendor, message, settings.alerts.recipients)]
    return bodies


def prepare(settings: Settings, push: PushSpec, day: date) -> PushOutcome:
    """Render, check and compose; nothing is sent. Raises :class:`PushFailed` saying
    which step failed (the screen's checks, or reading the numbers)."""
    try:
        report = render(settings, push)
    except PushRenderFailed as failure:
        raise PushFailed([f"大屏 {push.screen} 渲染检查未通过,未发送任何图片:",
                          *failure.problems]) from failure  # fmt: skip
    try:
        client = warehouse_login(settings, push)
        try:
            content = build(client, day, push.analyses, settings.push)
        finally:
            client.close()
    except Exception as error:  # noqa: BLE001 - any failure to read the numbers fails the push
        raise PushFailed(
            [f"读取 {day} 的数据失败: {type(error).__name__}: {error}"[:300]]
        ) from error
    outcome = PushOutcome(push.name, day, png=report.png)
    outcome.messages = compose(settings, push, day, content, report.png)
    return outcome


class PushFailed(RuntimeError):
    """The push cannot go out; ``problems`` in zh-CN, for the ops card."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def send(
    settings: Settings, push: PushSpec, day: date, robots: dict[str, Robot] | None = None
) -> PushOutcome:
    """Prepare and deliver; a push that cannot go out says why on the ops channel."""
    robots = robots if robots is not None else {}
    try:
        outcome = prepare(settings, push, day)
    except PushFailed as failure:
        outcome = PushOutcome(push.name, day, problems=failure.problems)
        outcome.results["ops"] = tell_ops(settings, push, day, failure.problems, robots)
        record(settings, outcome)
        return outcome
    for channel, bodies in outcome.messages.items():
        outcome.results[channel] = deliver(settings, channel, bodies, robots)
    record(settings, outcome)
    return outcome


def robot_for(settings: Settings, channel: str, robots: dict[str, Robot]) -> Robot | None:
    if channel not in robots:
        robot_settings = getattr(settings.alerts, channel)
        if not robot_settings.configured:
            return None
        robots[channel] = Robot(
            Vendor(channel), robot_settings, give_up_after=settings.alerts.attempt_seconds
        )
    return robots[channel]


def deliver(
    settings: Settings, channel: str, bodies: list[dict[str, Any]], robots: dict[str, Robot]
) -> str:
    robot = robot_for(settings, channel, robots)
    if robot is None:
        return "not_configured"
    try:
        for body in bodies:
            robot.send(body)
    except (TryAgain, DeliveryRefused) as error:
        log.error("push to %s failed: %s", channel, error)
        return f"failed: {error}"
    return "delivered"


def tell_ops(
    settings: Settings,
    push: PushSpec,
    day: date,
    problems: list[str],
    robots: dict[str, Robot],
) -> str:
    """The push's own alert: it did not go out, and why. On ``push.ops_channel``, or the
    push's first configured channel when the ops channel has no robot."""
    log.error("push %s for %s not sent: %s", push.name, day, "; ".join(problems))
    message = ChatMessage(f"【严重】推送失败:{push.title} {day:%m-%d}", "critical",
                          tuple(problems), link=screen_link(settings, push.screen))  # fmt: skip
    candidates = [settings.push.ops_channel, *(c.value for c in push.channels)]
    for channel in dict.fromkeys(candidates):
        if channel in Vendor.__members__ and robot_for(settings, channel, robots) is not None:
            return deliver(settings, channel, [payload(Vendor(channel), message, {})], robots)
    return "not_configured"


def record(settings: Settings, outcome: PushOutcome) -> None:
    """Every outcome into ``alert_notifications``; a warehouse that does not answer is
    logged, not fatal (the push's own log has it)."""
    from warehouse.client import connect

    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    state = "failed" if outcome.problems else "sent"
    rows = [
        [
            now,
            f"push:{outcome.push}",
            outcome.day.isoformat(),
            state,
            "",
            channel,
            result.split(":")[0],
            1,
            result.partition(": ")[2] or "; ".join(outcome.problems),
            0,
        ]
        for channel, result in outcome.results.items()
    ]
    try:
        client = connect(settings.clickhouse)
        try:
            client.insert("alert_notifications", rows, column_names=list(RECORD_COLUMNS))
        finally:
            client.close()
    except Exception as error:  # noqa: BLE001
        log.warning("push %s: outcome not recorded in the warehouse: %s", outcome.push, error)


def write_preview(outcome: PushOutcome, folder: Path) -> list[Path]:
    """The PNG and each channel's message as files, for a person to look at."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{outcome.push}-{outcome.day:%Y%m%d}"
    written = []
    if outcome.png:
        png = folder / f"{stem}.png"
        png.write_bytes(outcome.png)
        written.append(png)
    for channel, bodies in outcome.messages.items():
        path = folder / f"{stem}.{channel}.json"
        shown = [
            {**b, "image": {**b["image"], "base64": f"<{len(b['image']['base64'])} chars>"}}
            if b.get("msgtype") == "image"
            else b
            for b in bodies
        ]
        path.write_text(json.dumps(shown, ensure_ascii=False, indent=2), encoding="utf-8")
        written.append(path)
    return written
