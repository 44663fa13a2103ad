"""The alert service from a rule's rows to the vendor's endpoint (a strict local receiver):
one card per change and nothing per evaluation, grouped and batched within the rate
limit, retried through an outage until delivered once, silences, every outcome recorded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.settings import RecipientSettings, Settings
from dashboards.alerting.rules import AlertRule
from dashboards.alerting.service import AlertService
from dashboards.alerting.store import AlertStore
from dashboards.notifiers.message import Vendor
from dashboards.notifiers.robots import RateWindow, Robot
from testkit.chat_receivers import ChatReceivers
from testkit.support import isolated_settings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 3, 10, 0, 0)
RULE = AlertRule.model_validate({
    "name": "stock_out", "title": "库存售罄", "severity": "critical", "query": "rows",
    "item": ["sku_id"], "operator": "<=", "threshold": 0, "route_by": "category",
    "template": "{sku_id} 可用 {value}", "screen": "inventory-alert", "channels": ["feishu"],
})  # fmt: skip


FEISHU_WINDOW = ((5, 1.0), (100, 60.0))


class Harness:
    """A service whose rule reads ``rows`` and whose clock is ``now``."""

    def __init__(self, settings: Settings, receivers: ChatReceivers,
                 window: tuple[tuple[int, float], ...] = FEISHU_WINDOW) -> None:  # fmt: skip
        self.rows: list[dict[str, Any]] = []
        self.now = T0
        self.inserted: list[dict[str, Any]] = []
        feishu = Robot(Vendor.feishu, settings.alerts.feishu, max_backoff=0.05,
                       give_up_after=settings.alerts.attempt_seconds,
                       window=RateWindow(window))  # fmt: skip
        self.service = AlertService(
            settings, {RULE.name: RULE}, AlertStore(settings.alerts.state_file or Path()),
            query=lambda _sql: list(self.rows), insert_records=self.inserted.extend,
            clock=lambda: self.now, robots={"feishu": feishu})  # fmt: skip
        self.receivers = receivers

    def tick(self, seconds: float = 15) -> list[dict[str, Any]]:
        """One evaluation and delivery ``seconds`` later; the cards that arrived."""
        before = len(self.receivers.received["feishu"])
        self.now += timedelta(seconds=seconds)
        self.service.evaluate_all()
        self.service.deliver_due("feishu")
        self.service.flush_records()
        return [a.body for a in self.receivers.received["feishu"][before:]]


@pytest.fixture
def receivers() -> Iterator[ChatReceivers]:
    with ChatReceivers() as running:
        yield running


def settings_for(tmp_path: Path, receivers: ChatReceivers, **alerts: Any) -> Settings:
    settings = isolated_settings(tmp_path / "run")
    robots = receivers.settings()
    alice = RecipientSettings(feishu_user_id="ou_alice")
    return settings.model_copy(update={"alerts": settings.alerts.model_copy(update={
        "feishu": robots.feishu, "state_file": tmp_path / "alerts.sqlite",
        "route_owners": {"女装": "alice"}, "recipients": {"alice": alice}, **alerts})})  # fmt: skip


def card_text(card: dict[str, Any]) -> str:
    return str(card["card"])


def test_a_sku_out_of_stock_is_one_card_then_silence_until_it_is_restocked(
    tmp_path: Path, receivers: ChatReceivers
) -> None:
    harness = Harness(settings_for(tmp_path, receivers), receivers)
    harness.rows = [{"sku_id": "I00251-BL-M", "value": 0, "category": "女装"},
                    {"sku_id": "I00300", "value": 12, "category": "女装"}]  # fmt: skip
    (card,) = harness.tick()
    assert card["card"]["header"]["template"] == "red"
    assert "I00251-BL-M" in card_text(card) and "I00300" not in card_text(card)
    assert "/superset/dashboard/inventory-alert/" in card_text(card)
    assert receivers.received["feishu"][-1].mentioned == ["ou_alice"]  # category -> owner
    assert harness.tick() == [] and harness.tick() == []  # still out: nothing new
    harness.rows[0]["value"] = 40
    (resolved,) = harness.tick()
    assert "已恢复" in card_text(resolved) and resolved["card"]["header"]["template"] == "blue"
    assert harness.tick() == []
    results = [(r["item"], r["state"], r["result"]) for r in harness.inserted]
    assert results == [("I00251-BL-M", "firing", "delivered"),
                       ("I00251-BL-M", "resolved", "delivered")]  # fmt: skip


def test_fifty_skus_out_at_once_arrive_grouped_and_batched_none_lost(
    tmp_path: Path, receivers: ChatReceivers
) -> None:
    # A robot allowed one message a second: five categories' cards wait, then go as one.
    harness = Harness(settings_for(tmp_path, receivers), receivers, window=((1, 1.0),))
    harness.rows = [{"sku_id": f"S{n:03d}", "value": 0, "category": f"品类{n % 5}"}
                    for n in range(50)]  # fmt: skip
    cards = harness.tick()
    assert len(cards) == 2  # the first category's card, then the other four batched
    assert "告警汇总" in card_text(cards[1])
    text = " ".join(card_text(c) for c in cards)
    assert all(f"S{n:03d}" in text for n in range(50))
    assert len(harness.inserted) == 50 and {r["result"] for r in harness.inserted} == {"delivered"}


def test_an_outage_is_retried_until_the_card_arrives_once(
    tmp_path: Path, receivers: ChatReceivers
) -> None:
    harness = Harness(settings_for(tmp_path, receivers, attempt_seconds=0.3,
                                   retry_every_seconds=60), receivers)  # fmt: skip
    harness.rows = [{"sku_id": "A", "value": 0, "category": "女装"}]
    receivers.fail_next("feishu", 3, "500")  # a short outage: retried within the attempt
    assert len(harness.tick()) == 1
    harness.rows.append({"sku_id": "B", "value": 0, "category": "女装"})
    receivers.fail_next("feishu", 10_000, "throttle")  # a long one: left for later
    assert harness.tick() == []
    (waiting,) = harness.service.store.outbox()
    assert waiting.attempts >= 1 and "11232" in waiting.last_error
    assert harness.inserted[-1]["result"] == "retrying"
    receivers._faults["feishu"].clear()  # the vendor recovers
    assert harness.tick(30) == []  # not due yet
    (card,) = harness.tick(30)
    assert "B" in card_text(card) and harness.service.store.outbox() == []
    assert harness.tick() == []  # once


def test_a_silence_holds_a_card_back_and_its_end_lets_it_through_once(
    tmp_path: Path, receivers: ChatReceivers
) -> None:
    harness = Harness(settings_for(tmp_path, receivers), receivers)
    store = harness.service.store
    silence = store.add_silence("stock_out", {"sku_id": "A"}, T0 + timedelta(minutes=30))
    harness.rows = [{"sku_id": "A", "value": 0, "category": "女装"}]
    assert harness.tick() == []
    store.remove_silence(silence.id)
    assert len(harness.tick()) == 1
    assert harness.tick() == []


def test_a_rule_naming_a_channel_without_a_robot_is_recorded_not_lost_silently(
    tmp_path: Path, receivers: ChatReceivers
) -> None:
    harness = Harness(settings_for(tmp_path, receivers), receivers)
    harness.service.rules = {RULE.name: RULE.model_copy(update={"channels": ("feishu", "wecom")})}
    harness.rows = [{"sku_id": "A", "value": 0, "category": "女装"}]
    assert len(harness.tick()) == 1
    assert sorted((r["channel"], r["result"]) for r in harness.inserted) == [
        ("feishu", "delivered"), ("wecom", "not_configured")]  # fmt: skip


def test_records_wait_for_the_warehouse(tmp_path: Path, receivers: ChatReceivers) -> None:
    harness = Harness(settings_for(tmp_path, receivers), receivers)

    def down(_rows: list[dict[str, Any]]) -> None:
        raise ConnectionError("warehouse restarting")

    harness.service.insert_records = down
    harness.rows = [{"sku_id": "A", "value": 0, "category": "女装"}]
    harness.tick()
    assert len(harness.service.store.records()) == 1
    harness.service.insert_records = harness.inserted.extend
    assert harness.service.flush_records() == 1 and harness.inserted[0]["item"] == "A"
