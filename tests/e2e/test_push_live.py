"""The morning push on the real stack: the push service at a frozen 08:30 photographs the
sales screen in Chromium as the admin, reads yesterday's KPIs and insights from the
warehouse and sends both to DingTalk (a strict local receiver that fetches the picture
from its public URL and checks the @mentions); restarted, it does not send again. A screen
made to fail (its warehouse view gone) makes the push fail loudly and send no picture.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from clickhouse_connect.driver.client import Client
from test_inventory_slice import poll

from common.settings import PROJECT_ROOT, RecipientSettings, Settings
from dashboards.provision import chart_data
from dashboards.pushes.schedule import heartbeat_file
from dashboards.superset_client import SupersetApiError
from testkit.chat_receivers import ChatReceivers
from testkit.support import free_port

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")
MANAGER_MOBILE = "13800000009"
PUSH_SECONDS = 180.0
MORNING = """name: morning_drill
title: 每日经营早报
schedule: "30 8 * * *"
timezone: Asia/Shanghai
screen: outbound-trend
as_user: admin
channels: [dingtalk]
mentions: [manager]
analyses: [top-sellers, inventory-status]
"""
BROKEN = """name: broken_drill
title: 财务日报
schedule: "0 3 1 1 *"
screen: finance
channels: [dingtalk]
analyses: []
"""


@pytest.fixture(scope="module")
def push_settings(screens_ready: Settings, receivers: ChatReceivers,
                  tmp_path_factory: pytest.TempPathFactory) -> Settings:  # fmt: skip
    folder = tmp_path_factory.mktemp("push")
    (folder / "specs").mkdir()
    (folder / "specs" / "morning.yaml").write_text(MORNING, encoding="utf-8")
    (folder / "specs" / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    robots = receivers.settings()
    port = free_port()
    alerts = screens_ready.alerts.model_copy(update={
        "dingtalk": robots.dingtalk, "feishu": robots.feishu,
        "recipients": {"manager": RecipientSettings(mobile=MANAGER_MOBILE)}})  # fmt: skip
    push = screens_ready.push.model_copy(update={
        "specs_dir": folder / "specs", "state_file": folder / "push.sqlite",
        "image_dir": folder / "pictures", "image_port": port,
        "image_base_url": f"http://127.0.0.1:{port}/", "ops_channel": "feishu"})  # fmt: skip
    return screens_ready.model_copy(update={"alerts": alerts, "push": push})


def erpbi(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "erpbi", *args]
    return subprocess.run(command, env=environment(settings), cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def environment(settings: Settings) -> dict[str, str]:
    return {**settings.environment, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def push_service(settings: Settings, clock_start: datetime) -> subprocess.Popen[bytes]:
    heartbeat_file(settings).unlink(missing_ok=True)
    log = (settings.push.state_file or Path()).with_suffix(".log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "erpbi", "push", "run", "--clock-start",
                             clock_start.isoformat()], env=environment(settings),
                            cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, "the push service did not stop cleanly"


def morning_messages(receivers: ChatReceivers) -> list[str]:
    return [str(a.body) for a in receivers.received["dingtalk"] if "每日经营早报" in str(a.body)]


def test_the_0830_push_sends_the_screen_and_yesterdays_numbers_to_dingtalk_once(
    push_settings: Settings, receivers: ChatReceivers
) -> None:
    today = datetime.now(SHANGHAI).date()
    frozen = datetime(today.year, today.month, today.day, 8, 29, 57, tzinfo=SHANGHAI)
    service = push_service(push_settings, frozen)
    try:
        assert poll(lambda: morning_messages(receivers), PUSH_SECONDS, interval=0.5), (
            "no morning push reached DingTalk"
        )
    finally:
        stop(service)
    (text,) = morning_messages(receivers)
    yesterday = today - timedelta(days=1)
    assert f"{yesterday:%m-%d}" in text and "出库金额" in text and "【畅销商品】" in text
    arrival = next(a for a in receivers.received["dingtalk"] if "每日经营早报" in str(a.body))
    assert arrival.mentioned == [MANAGER_MOBILE] and f"@{MANAGER_MOBILE}" in text
    (picture,) = receivers.pictures["dingtalk"]
    assert picture is not None and picture.startswith(b"\x89PNG"), "DingTalk got no picture"
    assert "sent" in erpbi(push_settings, "push", "status").stdout

    again = push_service(push_settings, frozen + timedelta(seconds=10))  # back the same morning
    try:
        assert poll(lambda: heartbeat_file(push_settings).exists(), 60, interval=0.2)
    finally:
        stop(again)
    assert len(morning_messages(receivers)) == 1, "the restarted service sent the push again"


def test_a_failing_screen_fails_the_push_loudly_and_sends_no_picture(
    push_settings: Settings, receivers: ChatReceivers, warehouse: Client
) -> None:
    def chart_fails() -> bool:
        try:
            chart_data(push_settings, "近30天GMV", force=False)
        except SupersetApiError:
            return True
        return False

    dingtalk_before = len(receivers.received["dingtalk"])
    warehouse.command("RENAME TABLE metric_finance_daily TO metric_finance_daily_gone")
    try:
        assert poll(chart_fails, 60, interval=1.0), "the finance chart kept answering"
        done = erpbi(push_settings, "push", "send", "broken_drill")
    finally:
        warehouse.command("RENAME TABLE metric_finance_daily_gone TO metric_finance_daily")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ops" in done.stdout and "delivered" in done.stdout
    assert len(receivers.received["dingtalk"]) == dingtalk_before  # nothing to the managers
    ops = str(receivers.received["feishu"][-1].body)
    assert "推送失败" in ops and "财务日报" in ops and "finance" in ops
    assert poll(lambda: not chart_fails(), 60, interval=1.0), "the finance screen did not recover"
