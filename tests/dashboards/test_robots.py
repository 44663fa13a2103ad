"""Each robot reaches a local receiver that checks the vendor's protocol as strictly as
the vendor: signed and fresh, within the rate limit, retried through throttling and
server errors until delivered exactly once, refused loudly when the request is wrong."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from common.settings import ChatRobotSettings, RecipientSettings
from dashboards.notifiers.message import ChatMessage, Vendor, payload
from dashboards.notifiers.robots import DeliveryRefused, RateWindow, Robot, TryAgain
from testkit.chat_receivers import ChatReceivers

pytestmark = pytest.mark.integration

PEOPLE = {"alice": RecipientSettings(mobile="13800000001", feishu_user_id="ou_alice",
                                     wecom_user_id="alice"),
          "李": RecipientSettings(mobile="13900000002")}  # fmt: skip
MESSAGE = ChatMessage("【严重】库存售罄 告警 2 项", "critical",
                      ("毛衣 M(I00251-BL-M)· 杭州仓 可用 0", "围巾(I00300)· 广州仓 可用 0"),
                      link="http://127.0.0.1:18088/superset/dashboard/inventory-alert/",
                      mentions=("alice",))  # fmt: skip


@pytest.fixture
def receivers() -> Iterator[ChatReceivers]:
    with ChatReceivers() as running:
        yield running


def robot(receivers: ChatReceivers, vendor: Vendor, **kwargs: object) -> Robot:
    return Robot(vendor, getattr(receivers.settings(), vendor.value), max_backoff=0.2, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("vendor", list(Vendor))
def test_a_signed_message_arrives_with_its_mentions(
    receivers: ChatReceivers, vendor: Vendor
) -> None:
    delivered = robot(receivers, vendor).send(payload(vendor, MESSAGE, PEOPLE))
    assert delivered.attempts == 1
    (arrival,) = receivers.received[vendor.value]
    expected = {Vendor.dingtalk: ["13800000001"], Vendor.feishu: ["ou_alice"],
                Vendor.wecom: [], Vendor.webhook: ["alice"]}[vendor]  # fmt: skip
    assert arrival.mentioned == expected
    text = str(arrival.body)
    assert "I00251-BL-M" in text and "inventory-alert" in text


@pytest.mark.parametrize("vendor, code", [(Vendor.dingtalk, 310000), (Vendor.feishu, 19021)])
def test_a_wrong_secret_is_refused_with_the_vendors_code(
    receivers: ChatReceivers, vendor: Vendor, code: int
) -> None:
    wrong = getattr(receivers.settings(secret="not-the-secret"), vendor.value)
    with pytest.raises(DeliveryRefused, match=str(code)):
        Robot(vendor, wrong, max_backoff=0.2).send(payload(vendor, MESSAGE, PEOPLE))
    assert receivers.received[vendor.value] == [] and receivers.refused[vendor.value] == [code]


@pytest.mark.parametrize("vendor, code", [(Vendor.dingtalk, 310000), (Vendor.feishu, 19021)])
def test_a_timestamp_older_than_an_hour_is_refused(
    receivers: ChatReceivers, vendor: Vendor, code: int
) -> None:
    two_hours_slow = robot(receivers, vendor, wall_clock=lambda: time.time() - 7200)
    with pytest.raises(DeliveryRefused, match=str(code)):
        two_hours_slow.send(payload(vendor, MESSAGE, PEOPLE))


def test_the_webhook_refuses_a_wrong_signature(receivers: ChatReceivers) -> None:
    wrong = receivers.settings(secret="nope").webhook
    with pytest.raises(DeliveryRefused, match="401"):
        Robot(Vendor.webhook, wrong).send(payload(Vendor.webhook, MESSAGE, PEOPLE))


def test_a_wrong_token_is_refused(receivers: ChatReceivers) -> None:
    url = receivers.settings().wecom.url.get_secret_value().replace(receivers.token, "other")
    with pytest.raises(DeliveryRefused, match="93000"):
        Robot(Vendor.wecom, ChatRobotSettings(url=SecretStr(url))).send(
            payload(Vendor.wecom, MESSAGE, PEOPLE))  # fmt: skip


@pytest.mark.parametrize("vendor", list(Vendor))
@pytest.mark.parametrize("fault", ["500", "throttle"])
def test_server_errors_and_throttling_are_retried_until_delivered_once(
    receivers: ChatReceivers, vendor: Vendor, fault: str
) -> None:
    if vendor is Vendor.webhook and fault == "throttle":
        fault = "500"  # a plain webhook has no vendor throttling code
    receivers.fail_next(vendor.value, 3, how=fault)
    delivered = robot(receivers, vendor).send(payload(vendor, MESSAGE, PEOPLE))
    assert delivered.attempts == 4
    assert len(receivers.received[vendor.value]) == 1


def test_a_receiver_that_never_recovers_makes_the_send_give_up_loudly(
    receivers: ChatReceivers,
) -> None:
    receivers.fail_next("feishu", 1000)
    with pytest.raises(TryAgain, match="HTTP 500"):
        robot(receivers, Vendor.feishu, give_up_after=1.0).send(
            payload(Vendor.feishu, MESSAGE, PEOPLE))  # fmt: skip
    assert receivers.received["feishu"] == []


def test_the_rate_window_waits_for_room_instead_of_being_blocked() -> None:
    # The receiver enforces 3 per 1.5 s (DingTalk's 20 per minute, scaled down) and would
    # block the robot for 10 minutes when exceeded; the robot waits for room instead.
    limits = {"dingtalk": ((3, 1.5),), "feishu": (), "wecom": (), "webhook": ()}
    with ChatReceivers(limits=limits) as scaled:
        sender = robot(scaled, Vendor.dingtalk, window=RateWindow(((3, 1.5),)))
        started = time.monotonic()
        for n in range(7):
            sender.send(payload(Vendor.dingtalk, ChatMessage(f"消息 {n}", "info", ("x",)), {}))
        elapsed = time.monotonic() - started
        assert len(scaled.received["dingtalk"]) == 7 and scaled.refused["dingtalk"] == []
        assert elapsed >= 3.0  # two full windows waited


def test_a_long_list_is_cut_to_fit_the_vendors_size_limit() -> None:
    lines = tuple(f"很长的商品名称{'X' * 60}(SKU{n:05d})· 仓库 可用 0" for n in range(400))
    big = ChatMessage("【严重】库存售罄 告警 400 项", "critical", lines)
    for vendor in (Vendor.feishu, Vendor.wecom, Vendor.dingtalk):
        body = payload(vendor, big, {})
        size = len(json.dumps(body, ensure_ascii=False).encode())
        assert size <= {Vendor.feishu: 20_000, Vendor.wecom: 4_000, Vendor.dingtalk: 20_000}[vendor]
        assert "另有" in json.dumps(body, ensure_ascii=False)
