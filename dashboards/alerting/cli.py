"""`erpbi alerts ...`: the alert rules, what they find now, silences.

Examples:
  erpbi alerts list
  erpbi alerts test stock_out           # run the rule now: items and the message, nothing sent
  erpbi alerts silence stock_out --match sku_id=I00251-BL-M --for 2h --comment 补货在途
  erpbi alerts silences
  erpbi alerts unsilence 3f2a9c1b
  erpbi alerts status                   # firing per rule, deliveries waiting, last sends
  erpbi alerts run [--once]             # the alert service (`erpbi up` starts it)
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import signal
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from common.settings import Settings
from dashboards.alerting.engine import Phase, evaluate
from dashboards.alerting.message import plain_text
from dashboards.alerting.metrics import RELAYED, metrics_app
from dashboards.alerting.relay import (
    RELAY_QUERY,
    AlertmanagerWebhook,
    ops_rules,
    relay_app,
)
from dashboards.alerting.relayed import RelayedAlertStore
from dashboards.alerting.rules import AlertRule, load_rules, parse_duration
from dashboards.alerting.service import (
    RECORD_COLUMNS,
    AlertService,
    heartbeat_file,
    shanghai_now,
    state_file,
)
from dashboards.alerting.silences import ALL_RULES, parse_matchers
from dashboards.alerting.store import AlertStore
from dashboards.state_db import exclusive

log = logging.getLogger(__name__)


def store_for(settings: Settings) -> AlertStore:
    return AlertStore(state_file(settings))


def now() -> datetime:
    return shanghai_now()


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
    actions.add_parser("status", help="items pending and firing per rule, messages not yet "
                       "sent and why, the service's last evaluation, the last sends")  # fmt: skip
    run = actions.add_parser("run", help="the alert service: evaluate every rule, deliver")
    run.add_argument("--once", action="store_true", help="one evaluation and delivery, then exit")
    return parser


def all_rules(settings: Settings) -> dict[str, AlertRule]:
    """The business rules (dashboards/assets/alerts) and Prometheus's alerts, relayed."""
    ops = ops_rules(settings.monitoring.rules_dir, settings.monitoring.ops_channels)
    return {**load_rules(), **ops}


def main(settings: Settings, argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    rules = all_rules(settings)
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
    beat_path = heartbeat_file(settings)
    if beat_path.exists():
        beat = json.loads(beat_path.read_text(encoding="utf-8"))
        channels = ", ".join(beat["channels"]) or "(none)"
        print(f"service: pid {beat['pid']}, evaluated {beat['evaluated_at']}, "
              f"next {beat['next_evaluation']}, channels {channels}")  # fmt: skip
    else:
        print("service: never ran (erpbi up starts it; or erpbi alerts run)")
    print(f"\n{'规则':<18}{'告警中':>6}{'待定':>6}")
    for rule in rules.values():
        states = store.states(rule.name)
        firing = sum(1 for s in states.values() if s.phase is Phase.firing)
        print(f"{rule.name:<18}{firing:>8}{len(states) - firing:>8}")
    waiting = store.outbox()
    print(f"\nmessages waiting to be sent: {len(waiting)}; "
          f"silences in force: {len(store.silences(now=now()))}")  # fmt: skip
    for message in waiting[:20]:
        tried = "not tried yet"
        if message.next_attempt_at:
            tried = (f"tried {message.attempts}x, next {message.next_attempt_at:%H:%M:%S}: "
                     f"{message.last_error}")  # fmt: skip
        print(f"  #{message.id} {message.channel:<9}{message.notification.rule:<18}"
              f"{message.notification.state:<9}since {message.created_at:%m-%d %H:%M:%S}"
              f"  {tried}")  # fmt: skip
    _print_last_sends(settings)
    return 0


def _print_last_sends(settings: Settings, limit: int = 10) -> None:
    from warehouse.client import connect

    try:
        client = connect(settings.clickhouse)
        try:
            rows = client.query(
                "SELECT event_time, rule, state, channel, result, count() AS items, "
                "any(error) FROM alert_notifications GROUP BY event_time, rule, state, "
                f"channel, result, message_id ORDER BY event_time DESC LIMIT {int(limit)}"
            ).result_rows
        finally:
            client.close()
    except Exception as error:  # noqa: BLE001 - status still answers without the warehouse
        print(f"\nlast sends: the warehouse does not answer ({type(error).__name__})")
        return
    print("\nlast sends:" if rows else "\nlast sends: none yet")
    for at, rule, state, channel, result, items, why in rows:
        print(f"  {at:%m-%d %H:%M:%S} {rule:<18}{state:<9}{channel:<9}{result:<15}"
              f"{items} 项 {why}")  # fmt: skip


def _run(settings: Settings, args: argparse.Namespace, rules: dict[str, AlertRule]) -> int:
    from warehouse.client import connect

    client = connect(settings.clickhouse)
    lock = threading.Lock()  # one warehouse client, used by the loop and the senders

    relayed = RelayedAlertStore(state_file(settings))

    def query(sql: str) -> list[dict[str, Any]]:
        if sql.startswith(RELAY_QUERY):
            return relayed.firing(sql.removeprefix(RELAY_QUERY), now())
        with lock:
            result = client.query(sql)
        return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]

    def insert(rows: list[dict[str, Any]]) -> None:
        with lock:
            client.insert("alert_notifications", [[r[c] for c in RECORD_COLUMNS] for r in rows],
                          column_names=list(RECORD_COLUMNS))  # fmt: skip

    with exclusive(state_file(settings).with_suffix(".lock"), "alert service"):
        return _serve(settings, args, rules, client, query, insert, relayed)


def _serve(settings: Settings, args: argparse.Namespace, rules: dict[str, AlertRule],
           client: Any, query: Any, insert: Any, relayed: RelayedAlertStore) -> int:  # fmt: skip
    service = AlertService(settings, rules, store_for(settings), query, insert)
    if not service.robots:
        log.warning("no chat robot configured (alerts.feishu/dingtalk/wecom/webhook.url): "
                    "alerts are evaluated and recorded as not_configured, not sent")  # fmt: skip
    try:
        if args.once:
            service.evaluate_all()
            for channel in service.robots:
                service.deliver_due(channel)
            service.flush_records()
            service.beat(heartbeat_file(settings), settings.alerts.evaluate_every_seconds)
            return 0
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())

        def accept(webhook: AlertmanagerWebhook) -> None:
            relayed.accept(webhook.alerts, now())
            for alert in webhook.alerts:
                RELAYED.labels(alert.status).inc()
            service.evaluate_now.set()  # the card goes out now, not at the next tick

        serve_http(
            settings.monitoring.metrics_bind,
            settings.monitoring.alerter_port,
            relay_app(accept, metrics_app()),
        )
        log.info("alert service: %d rules every %.0f s, channels: %s", len(rules),
                 settings.alerts.evaluate_every_seconds,
                 ", ".join(service.robots) or "none")  # fmt: skip
        service.run(stop, heartbeat_file(settings))
        return 0
    finally:
        client.close()


def _test(settings: Settings, args: argparse.Namespace, rules: dict[str, AlertRule]) -> int:
    from warehouse.client import connect

    rule, store = rules[args.rule], store_for(settings)
    if rule.query.startswith(RELAY_QUERY):
        rows = RelayedAlertStore(state_file(settings)).firing(rule.name, now())
    else:
        client = connect(settings.clickhouse)
        try:
            result = client.query(rule.query)
            rows = [dict(zip(result.column_names, row, strict=True))
                    for row in result.result_rows]  # fmt: skip
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
           "unsilence": _unsilence, "status": _status, "run": _run}  # fmt: skip


def serve_http(bind: str, port: int, app: Any) -> None:
    """The relay and /metrics on loopback, in a daemon thread. A taken port (another alert
    process on this machine) is logged: evaluation and delivery go on without it."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
            log.debug("relay: " + format, *args)

    try:
        server = make_server(bind, port, app, server_class=Server,
                             handler_class=QuietHandler)  # fmt: skip
    except OSError as error:
        log.error("relay and /metrics not served: port %d: %s", port, error)
        return
    threading.Thread(target=server.serve_forever, name="alerts-relay", daemon=True).start()
    log.info("relay for Alertmanager and /metrics on %s:%d", bind, port)
