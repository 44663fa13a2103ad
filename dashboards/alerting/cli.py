"""`erpbi alerts ...`: the alert rules, what they find now, silences.

Examples:
  erpbi alerts list
  erpbi alerts test stock_out           # run the rule now: items and the message, nothing sent
  erpbi alerts silence stock_out --match sku_id=I00251-BL-M --for 2h --comment 补货在途
  erpbi alerts silences
  erpbi alerts unsilence 3f2a9c1b
  erpbi alerts status
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from common.settings import Settings
from dashboards.alerting.engine import Phase, evaluate
from dashboards.alerting.message import plain_text
from dashboards.alerting.rules import AlertRule, load_rules, parse_duration
from dashboards.alerting.silences import ALL_RULES, parse_matchers
from dashboards.alerting.store import AlertStore

SHANGHAI = ZoneInfo("Asia/Shanghai")


def store_for(settings: Settings) -> AlertStore:
    return AlertStore(settings.paths.data_dir / "alerts" / "alerts.sqlite")


def now() -> datetime:
    return datetime.now(SHANGHAI).replace(tzinfo=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erpbi alerts", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="the rules in the repo: threshold, for, repeat, routing")
    test = actions.add_parser("test", help="run a rule now and print what it would send")
    test.add_argument("rule")
    silence = actions.add_parser("silence", help="hold back a rule's messages for a while")
    silence.add_argument("rule", help=f"a rule name, or {ALL_RULES} for every rule")
    silence.add_argument("--match", action="append", default=[], metavar="COLUMN=VALUE",
                         help="only items whose row has this value (repeatable)")  # fmt: skip
    silence.add_argument("--for", dest="duration", required=True,
                         help="how long, e.g. 30m, 2h, 1h30m")  # fmt: skip
    silence.add_argument("--comment", default="", help="why (shown in the list)")
    actions.add_parser("silences", help="the silences still in force")
    unsilence = actions.add_parser("unsilence", help="end a silence now")
    unsilence.add_argument("id")
    actions.add_parser("status", help="items pending and firing per rule, messages not yet sent")
    return parser


def main(settings: Settings, argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    rules = load_rules()
    if getattr(args, "rule", ALL_RULES) not in (*rules, ALL_RULES):
        print(f"no rule {args.rule!r}; rules: {', '.join(rules)}")
        return 2
    return ACTIONS[args.action](settings, args, rules)


def _list(_settings: Settings, _args: argparse.Namespace, rules: dict[str, AlertRule]) -> int:
    print(f"{'规则':<18}{'名称':<10}{'级别':<10}{'条件':<12}{'持续':>8}{'重复':>10}  路由")
    for rule in rules.values():
        condition = f"{rule.value} {rule.op} {rule.threshold:g}"
        repeat_hours = rule.repeat_interval.total_seconds() / 3600
        print(f"{rule.name:<18}{rule.title:<10}{rule.severity.value:<10}{condition:<12}"
              f"{rule.for_.total_seconds():>7.0f}s{repeat_hours:>9g}h"
              f"  {rule.route_by or '-'} -> {', '.join(rule.channels)}")  # fmt: skip
    return 0


def _silence(settings: Settings, args: argparse.Namespace, _rules: dict[str, AlertRule]) -> int:
    try:
        matchers = parse_matchers(args.match)
        ends = now() + parse_duration(args.duration)
    except ValueError as error:
        print(error)
        return 2
    made = store_for(settings).add_silence(args.rule, matchers, ends, getpass.getuser(),
                                           args.comment)  # fmt: skip
    print(f"silence {made.id}: {made.rule} {matchers or '(all items)'} "
          f"until {ends:%Y-%m-%d %H:%M}")  # fmt: skip
    return 0


def _silences(settings: Settings, _args: argparse.Namespace, _rules: dict[str, AlertRule]) -> int:
    active = store_for(settings).silences(now=now())
    for s in active:
        print(f"{s.id}  {s.rule:<18} until {s.ends_at:%m-%d %H:%M}  "
              f"{dict(s.matchers) or '(all items)'}  {s.created_by} {s.comment}")  # fmt: skip
    if not active:
        print("no silence in force")
    return 0


def _unsilence(settings: Settings, args: argparse.Namespace, _rules: dict[str, AlertRule]) -> int:
    if store_for(settings).remove_silence(args.id):
        print(f"silence {args.id} ended")
        return 0
    print(f"no silence {args.id}")
    return 1


def _status(settings: Settings, _args: argparse.Namespace, rules: dict[str, AlertRule]) -> int:
    store = store_for(settings)
    for rule in rules.values():
        states = store.states(rule.name)
        firing = sum(1 for s in states.values() if s.phase is Phase.firing)
        print(f"{rule.name:<18} firing {firing:>4}  pending {len(states) - firing:>4}")
    print(f"messages waiting to be sent: {len(store.outbox())}; "
          f"silences in force: {len(store.silences(now=now()))}")  # fmt: skip
    return 0


def _test(settings: Settings, args: argparse.Namespace, rules: dict[str, AlertRule]) -> int:
    from warehouse.client import connect

    rule, store = rules[args.rule], store_for(settings)
    client = connect(settings.clickhouse)
    try:
        result = client.query(rule.query)
        rows = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
    finally:
        client.close()
    # As if nothing had fired before and `for` had passed: what this rule finds now.
    as_new = evaluate(rule.model_copy(update={"for_": parse_duration(0)}), rows, now(), {},
                      store.silences(now=now()))  # fmt: skip
    print(f"{rule.name}: {len(rows)} rows, {as_new.firing} cross the threshold"
          f" ({as_new.silenced} silenced)")  # fmt: skip
    for notification in as_new.notifications:
        print("\n" + plain_text(rule, notification))
    return 0


ACTIONS = {"list": _list, "test": _test, "silence": _silence, "silences": _silences,
           "unsilence": _unsilence, "status": _status}  # fmt: skip
