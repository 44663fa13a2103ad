"""The alert service's memory survives a restart: item states and the messages decided
with them are written together, delivered ones leave the outbox, silences are kept."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from dashboards.alerting.cli import main
from dashboards.alerting.engine import evaluate
from dashboards.alerting.rules import AlertRule
from dashboards.alerting.store import AlertStore
from testkit.support import isolated_settings

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 3, 8, 0, 0)
RULE = AlertRule.model_validate({
    "name": "stock_out", "title": "库存售罄", "query": "SELECT 1", "item": ["sku_id"],
    "operator": "<=", "threshold": 0, "route_by": "owner", "template": "{sku_id}: {value}",
})  # fmt: skip
ROWS = [{"sku_id": "A", "value": 0, "owner": "alice"}, {"sku_id": "B", "value": 0, "owner": "李"}]


def test_a_restarted_service_remembers_what_fired_and_what_is_left_to_send(
    tmp_path: Path,
) -> None:
    store = AlertStore(tmp_path / "alerts.sqlite")
    first = evaluate(RULE, ROWS, T0, store.states(RULE.name))
    ids = store.commit(RULE, first, T0, ["feishu"])
    assert len(ids) == 2
    store.delivered(ids[0], T0, attempts=1)

    restarted = AlertStore(tmp_path / "alerts.sqlite")  # a new process, the same file
    (left,) = restarted.outbox()
    assert left.id == ids[1] and left.notification.route == "李" and left.channel == "feishu"
    assert left.notification.firing[0]["sku_id"] == "B"
    again = evaluate(RULE, ROWS, T0 + timedelta(minutes=1), restarted.states(RULE.name))
    assert again.notifications == []  # nothing fires twice
    assert restarted.states(RULE.name) == first.states


def test_each_channel_gets_its_own_delivery_and_a_failure_waits_for_its_retry_time(
    tmp_path: Path,
) -> None:
    store = AlertStore(tmp_path / "alerts.sqlite")
    ids = store.commit(RULE, evaluate(RULE, ROWS[:1], T0, {}), T0, ["feishu", "dingtalk"],
                       unconfigured=["wecom"])  # fmt: skip
    assert [m.channel for m in store.outbox()] == ["feishu", "dingtalk"]
    store.failed(ids[0], T0, 3, "retrying", "feishu: HTTP 500", T0 + timedelta(seconds=60))
    assert store.outbox("feishu", due_at=T0 + timedelta(seconds=59)) == []
    (due,) = store.outbox("feishu", due_at=T0 + timedelta(seconds=60))
    assert due.attempts == 3 and due.last_error == "feishu: HTTP 500"
    assert [m.id for m in store.outbox("dingtalk", due_at=T0)] == [ids[1]]  # not held up
    store.failed(ids[1], T0, 1, "refused", "dingtalk: 310000 签名校验失败", retry_at=None)
    assert store.outbox("dingtalk") == []
    outcomes = [(row["channel"], row["result"], row["item"], row["state"])
                for _, row in store.records()]  # fmt: skip
    assert outcomes == [("wecom", "not_configured", "A", "firing"),
                        ("feishu", "retrying", "A", "firing"),
                        ("dingtalk", "refused", "A", "firing")]  # fmt: skip
    store.forget_records(store.records()[1][0])
    assert [row["channel"] for _, row in store.records()] == ["dingtalk"]


def test_silences_are_kept_listed_and_removed(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "alerts.sqlite")
    kept = store.add_silence("stock_out", {"sku_id": "A"}, T0 + timedelta(hours=2), "ops", "补货中")
    store.add_silence("*", {}, T0 - timedelta(hours=1))  # already over
    assert [s.id for s in store.silences(now=T0)] == [kept.id]
    assert len(store.silences()) == 2
    assert store.silences(now=T0)[0].matchers == {"sku_id": "A"}
    assert store.remove_silence(kept.id) and not store.remove_silence(kept.id)
    assert store.silences(now=T0) == []


def test_an_operator_silences_lists_and_ends_a_silence_from_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = isolated_settings(tmp_path / "run")
    assert main(settings, ["silence", "stock_out", "--match", "sku_id=A", "--for", "2h",
                           "--comment", "补货在途"]) == 0  # fmt: skip
    silence_id = capsys.readouterr().out.split()[1].rstrip(":")
    assert main(settings, ["silences"]) == 0
    listed = capsys.readouterr().out
    assert silence_id in listed and "补货在途" in listed and "sku_id" in listed
    assert main(settings, ["silence", "stock_out", "--match", "A", "--for", "2h"]) == 2
    assert "column=value" in capsys.readouterr().out
    assert main(settings, ["silence", "no_such_rule", "--for", "2h"]) == 2
    assert main(settings, ["unsilence", silence_id]) == 0
    assert main(settings, ["unsilence", silence_id]) == 1
    capsys.readouterr()
    assert main(settings, ["silences"]) == 0
    assert "no silence in force" in capsys.readouterr().out
