"""A push's picture reaches each vendor the way it accepts pictures (strict local receivers):
DingTalk fetches it from the public URL, a Feishu card shows a key uploaded through the app,
WeCom takes it inline first; without a route the message says so and links the screen."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from common.settings import RecipientSettings, Settings
from dashboards.notifiers.message import Vendor
from dashboards.pushes.content import Kpi, PushContent
from dashboards.pushes.images import NO_ROUTE
from dashboards.pushes.runner import compose, deliver
from dashboards.pushes.schedule import serve_pictures
from dashboards.pushes.spec import PushSpec
from testkit.chat_receivers import FEISHU_APP_ID, FEISHU_APP_SECRET, ChatReceivers
from testkit.support import isolated_settings

pytestmark = pytest.mark.integration

DAY = date(2026, 12, 2)
PUSH = PushSpec(
    name="morning",
    title="每日经营早报",
    screen="outbound-trend",
    channels=(Vendor.dingtalk, Vendor.feishu, Vendor.wecom),
    mentions=("manager",),
)
CONTENT = PushContent(
    DAY,
    [Kpi("出库金额", "outbound_amount", 248_518.47, 0.032, -0.015)],
    ["店铺:北极绒天猫旗舰店 +1.20 万元"],
    [("畅销商品", "近 7 天……")],
)


def screen_png() -> bytes:
    from PIL import Image

    image = Image.new("RGB", (192, 108))
    image.putdata([(x * 7 % 256, y * 13 % 256, 90) for y in range(108) for x in range(192)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def receivers() -> Iterator[ChatReceivers]:
    with ChatReceivers() as running:
        yield running


def settings_for(
    tmp_path: Path,
    receivers: ChatReceivers,
    routes: bool = True,
    app_secret: str = FEISHU_APP_SECRET,
) -> Settings:
    settings = isolated_settings(tmp_path / "run")
    robots = receivers.settings()
    alerts = settings.alerts.model_copy(
        update={
            "dingtalk": robots.dingtalk,
            "feishu": robots.feishu,
            "wecom": robots.wecom,
            "recipients": {
                "manager": RecipientSettings(mobile="13800000009", feishu_user_id="ou_manager")
            },
        }
    )
    port = settings.push.image_port
    push = settings.push.model_copy(
        update={
            "image_base_url": f"http://127.0.0.1:{port}/" if routes else "",
            "feishu_app_id": FEISHU_APP_ID if routes else "",
            "feishu_app_secret": SecretStr(app_secret),
            "feishu_api_base": receivers.base_url,
            "image_dir": tmp_path / "pictures",
        }
    )
    return settings.model_copy(update={"alerts": alerts, "push": push})


def send_all(settings: Settings, bodies: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    robots: dict[str, Any] = {}
    return {channel: deliver(settings, channel, sent, robots) for channel, sent in bodies.items()}


def test_each_vendor_shows_the_picture_its_own_way(
    tmp_path: Path, receivers: ChatReceivers
) -> None:
    settings = settings_for(tmp_path, receivers)
    server = serve_pictures(settings)  # as the push service does
    png = screen_png()
    try:
        bodies = compose(settings, PUSH, DAY, CONTENT, png)
        assert send_all(settings, bodies) == {
            c: "delivered" for c in ("dingtalk", "feishu", "wecom")
        }
    finally:
        server.shutdown()
        server.server_close()
    assert receivers.pictures["dingtalk"] == [png]  # fetched from the public URL
    assert receivers.pictures["feishu"] == [png]  # the uploaded key, shown on the card
    assert receivers.pictures["wecom"] == [png]  # inline, before the text
    dingtalk = receivers.received["dingtalk"][-1]
    assert dingtalk.mentioned == ["13800000009"]
    assert "出库金额 24.85 万元(环比 +3.2%,周同比 -1.5%)" in str(dingtalk.body)
    assert receivers.received["feishu"][-1].mentioned == ["ou_manager"]
    # WeCom mentions by mobile only in a text message
    assert [a.body["msgtype"] for a in receivers.received["wecom"]] == ["image", "text"]


def test_without_a_route_the_message_says_so_and_links_the_screen(
    tmp_path: Path, receivers: ChatReceivers
) -> None:
    settings = settings_for(tmp_path, receivers, routes=False)
    bodies = compose(settings, PUSH, DAY, CONTENT, screen_png())
    send_all(settings, bodies)
    dingtalk = str(receivers.received["dingtalk"][-1].body)
    assert (
        NO_ROUTE[Vendor.dingtalk] in dingtalk and "/superset/dashboard/outbound-trend/" in dingtalk
    )
    assert NO_ROUTE[Vendor.feishu] in str(receivers.received["feishu"][-1].body)
    assert receivers.pictures["dingtalk"] == [] and receivers.pictures["feishu"] == []
    assert receivers.pictures["wecom"] != []  # WeCom always takes it inline


def test_a_refused_feishu_upload_still_sends_the_text_and_says_why(
    tmp_path: Path, receivers: ChatReceivers
) -> None:
    settings = settings_for(tmp_path, receivers, app_secret="wrong-secret")
    bodies = compose(settings, PUSH, DAY, CONTENT, screen_png())
    feishu = str(bodies["feishu"])
    assert "大屏截图未能发送" in feishu and "10014" in feishu and "wrong-secret" not in feishu
    assert "img_key" not in feishu
    assert send_all(settings, bodies)["feishu"] == "delivered"  # the text, with the link
