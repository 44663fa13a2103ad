"""Alert semantics as an on-call person relies on them: pending, then firing once, one
grouped message per owner, a repeat only after its interval, one resolved message,
silences that hold back and then let a still-firing item through once."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dashboards.alerting.engine import Evaluation, ItemState, Phase, evaluate
from dashboards.alerting.rules import AlertRule, RuleFileError, load_rules, parse_duration
from dashboards.alerting.silences import Silence, parse_matchers

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 3, 8, 0, 0)
RULE = AlertRule.model_validate({
    "name": "stock_out", "title": "库存售罄", "query": "SELECT 1", "item": ["sku_id", "wms"],
    "operator": "<=", "threshold": 0, "for": "0s", "repeat_interval": "4h",
    "route_by": "owner", "template": "{sku_id}@{wms}: {value}",
})  # fmt: skip


def row(sku: str, value: int, owner: str = "alice", wms: int = 1) -> dict[str, Any]:
    return {"sku_id": sku, "wms": wms, "value": value, "owner": owner}


def run(rows: list[dict[str, Any]], at: datetime, states: dict[str, ItemState],
        rule: AlertRule = RULE, silences: tuple[Silence, ...] = ()) -> Evaluation:  # fmt: skip
    return evaluate(rule, rows, at, states, silences)


def test_an_item_fires_once_and_resolves_once() -> None:
    first = run([row("A", 0), row("B", 5)], T0, {})
    assert [(n.state, [r["sku_id"] for r in n.firing]) for n in first.notifications] == [
        ("firing", ["A"])
    ]
    again = run([row("A", 0), row("B", 5)], T0 + timedelta(minutes=1), first.states)
    assert again.notifications == [] and again.firing == 1
    back = run([row("A", 3), row("B", 5)], T0 + timedelta(minutes=2), again.states)
    (resolved,) = back.notifications
    assert resolved.state == "resolved" and [r["sku_id"] for r in resolved.resolved] == ["A"]
    assert back.states == {}
    assert run([row("A", 3)], T0 + timedelta(minutes=3), back.states).notifications == []


def test_for_keeps_an_item_pending_and_a_short_dip_sends_nothing() -> None:
    rule = RULE.model_copy(update={"for_": timedelta(minutes=5)})
    first = run([row("A", 0)], T0, {}, rule)
    assert first.notifications == [] and first.pending == 1
    dip = run([row("A", 2)], T0 + timedelta(minutes=1), first.states, rule)
    assert dip.notifications == [] and dip.states == {}
    pending = run([row("A", 0)], T0 + timedelta(minutes=2), dip.states, rule)
    still = run([row("A", 0)], T0 + timedelta(minutes=6), pending.states, rule)
    assert still.notifications == []  # 4 minutes since it crossed again
    fires = run([row("A", 0)], T0 + timedelta(minutes=7), still.states, rule)
    assert [n.state for n in fires.notifications] == ["firing"]
    assert fires.states["A|1"].phase is Phase.firing


def test_items_are_grouped_per_owner_in_one_message_each() -> None:
    rows = [row(f"S{n:02d}", 0, owner="alice" if n < 37 else "bob") for n in range(40)]
    result = run(rows, T0, {})
    assert [(n.route, len(n.firing), n.still_firing) for n in result.notifications] == [
        ("alice", 37, 37), ("bob", 3, 3)
    ]  # fmt: skip


def test_a_firing_group_repeats_after_its_interval_only() -> None:
    first = run([row("A", 0)], T0, {})
    early = run([row("A", 0), row("B", 0)], T0 + timedelta(hours=3), first.states)
    (only_b,) = early.notifications
    assert [r["sku_id"] for r in only_b.firing] == ["B"] and not only_b.repeated
    later = run([row("A", 0), row("B", 0)], T0 + timedelta(hours=4), early.states)
    (repeat,) = later.notifications
    assert [r["sku_id"] for r in repeat.firing] == ["A"] and repeat.repeated
    assert repeat.still_firing == 2


def test_a_silence_holds_an_item_back_and_its_end_lets_it_through_once() -> None:
    silence = Silence("s1", "stock_out", ends_at=T0 + timedelta(hours=2),
                      matchers={"sku_id": "A"})  # fmt: skip
    held = run([row("A", 0), row("B", 0)], T0, {}, silences=(silence,))
    assert [[r["sku_id"] for r in n.firing] for n in held.notifications] == [["B"]]
    assert held.silenced == 1
    during = run([row("A", 0), row("B", 0)], T0 + timedelta(hours=1), held.states,
                 silences=(silence,))  # fmt: skip
    assert during.notifications == []
    after = run([row("A", 0), row("B", 0)], T0 + timedelta(hours=2), during.states,
                silences=(silence,))  # fmt: skip
    assert [[r["sku_id"] for r in n.firing] for n in after.notifications] == [["A"]]
    quiet = run([row("A", 0), row("B", 0)], T0 + timedelta(hours=2, minutes=1), after.states)
    assert quiet.notifications == []


def test_an_item_that_resolves_while_silenced_and_was_never_sent_says_nothing() -> None:
    silence = Silence("s1", "*", ends_at=T0 + timedelta(hours=1))
    held = run([row("A", 0)], T0, {}, silences=(silence,))
    gone = run([], T0 + timedelta(minutes=30), held.states, silences=(silence,))
    assert held.notifications == [] and gone.notifications == [] and gone.states == {}


def test_rules_in_the_repo_load_and_name_their_parts() -> None:
    rules = load_rules()
    assert {"stock_out", "aftersale_rate", "outbound_backlog", "data_freshness"} <= set(rules)
    for rule in rules.values():
        assert rule.item and rule.query.strip().upper().startswith("SELECT")
        assert f"{{{rule.value}}}" in rule.template, f"{rule.name}: the message hides the value"
    assert rules["aftersale_rate"].threshold == 5 and rules["aftersale_rate"].op == ">"


def test_a_broken_rule_file_names_itself(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: bad\ntitle: x\nquery: SELECT 1\n"
                                       "item: [a]\nthreshold: 1\noperator: '=>'\n"
                                       "template: '{a}'\n")  # fmt: skip
    with pytest.raises(RuleFileError, match=r"(?s)bad\.yaml.*operator must be one of"):
        load_rules(tmp_path)


def test_durations_and_matchers_read_as_people_write_them() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("90s") == timedelta(seconds=90)
    with pytest.raises(ValueError, match="15min"):
        parse_duration("15min")
    assert parse_matchers(["sku_id=A", "owner = alice"]) == {"sku_id": "A", "owner": "alice"}
    with pytest.raises(ValueError, match="column=value"):
        parse_matchers(["alice"])
