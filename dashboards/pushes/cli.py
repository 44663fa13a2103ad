"""`erpbi push ...`: the scheduled chat-bot pushes.

Examples:
  erpbi push list                          # each push: schedule, screen, channels, next run
  erpbi push preview morning_report        # render + compose, write the PNG and messages
  erpbi push send morning_report           # send it now (yesterday's numbers)
  erpbi push status                        # the service, its next runs, the last runs
  erpbi push run                           # the push service (`erpbi up` starts it)
  erpbi push run --clock-start 2026-12-03T08:29:50+08:00   # a drill: the service's clock
                                           # starts there and runs on at real speed
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from common.settings import Settings
from dashboards.pushes.spec import PUSHES_DIR, PushSpec, load_pushes

log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def pushes_for(settings: Settings) -> dict[str, PushSpec]:
    return load_pushes(settings.push.specs_dir or PUSHES_DIR)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erpbi push", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="the pushes: schedule, screen, user, channels, next run")
    for name, text in (
        ("preview", "render and compose, write the PNG and messages; send nothing"),
        ("send", "send a push now"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("push")
        action.add_argument(
            "--day",
            type=date.fromisoformat,
            default=None,
            help="the day reported (default: yesterday)",
        )
    actions.add_parser("status", help="the service, its next runs, the last runs")
    run = actions.add_parser("run", help="the push service")
    run.add_argument(
        "--clock-start",
        type=datetime.fromisoformat,
        default=None,
        help="a drill: the service's clock starts at this time (ISO, with zone)",
    )
    return parser


def main(settings: Settings, argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    pushes = pushes_for(settings)
    if getattr(args, "push", None) is not None and args.push not in pushes:
        print(f"no push {args.push!r}; pushes: {', '.join(pushes) or '(none)'}")
        return 2
    return ACTIONS[args.action](settings, args, pushes)


def yesterday() -> date:
    return datetime.now(SHANGHAI).date() - timedelta(days=1)


def _list(_settings: Settings, _args: argparse.Namespace, pushes: dict[str, PushSpec]) -> int:
    from dashboards.pushes.schedule import next_fire

    for push in pushes.values():
        upcoming = next_fire(push, datetime.now(ZoneInfo(push.timezone)))
        channels = ", ".join(c.value for c in push.channels)
        print(
            f"{push.name:<18}{push.title}  cron '{push.schedule}' {push.timezone}  "
            f"next {upcoming:%Y-%m-%d %H:%M}\n{'':<18}screen {push.screen} as {push.as_user}"
            f" -> {channels}; analyses {', '.join(push.analyses)}"
        )
    if not pushes:
        print("no push defined (dashboards/assets/pushes/*.yaml)")
    return 0


def _preview(settings: Settings, args: argparse.Namespace, pushes: dict[str, PushSpec]) -> int:
    from dashboards.pushes.runner import PushFailed, prepare, write_preview

    day = args.day or yesterday()
    try:
        outcome = prepare(settings, pushes[args.push], day)
    except PushFailed as failure:
        print(f"推送 {args.push} 不会发出:")
        for problem in failure.problems:
            print(f"  - {problem}")
        return 1
    for path in write_preview(outcome, settings.paths.run_dir / "push-preview"):
        print(path)
    return 0


def _send(settings: Settings, args: argparse.Namespace, pushes: dict[str, PushSpec]) -> int:
    from dashboards.pushes.runner import send

    outcome = send(settings, pushes[args.push], args.day or yesterday())
    for channel, result in outcome.results.items():
        print(f"{channel:<9}{result}")
    for problem in outcome.problems:
        print(f"  - {problem}")
    return 0 if outcome.ok else 1


def _status(settings: Settings, _args: argparse.Namespace, pushes: dict[str, PushSpec]) -> int:
    from dashboards.pushes.schedule import Ledger, heartbeat_file, ledger_file

    beat_path = heartbeat_file(settings)
    if beat_path.exists():
        beat = json.loads(beat_path.read_text(encoding="utf-8"))
        print(f"service: pid {beat['pid']}, last look {beat['at']}")
        for name, at in beat["next_runs"].items():
            print(f"  next {name:<18}{at}")
    else:
        print("service: never ran (erpbi up starts it; or erpbi push run)")
    runs = Ledger(ledger_file(settings)).runs()
    print("\nlast runs:" if runs else "\nlast runs: none yet")
    for run in runs:
        result = run.result or "started, never finished (the service stopped mid-send)"
        print(
            f"  {run.push:<18}{run.scheduled_for:%Y-%m-%d %H:%M}  "
            f"started {run.started_at:%m-%d %H:%M:%S}  {result}"
        )
    return 0


def drill_clock(start: datetime | None) -> Callable[[], datetime]:
    if start is None:
        return lambda: datetime.now(SHANGHAI)
    if start.tzinfo is None:
        start = start.replace(tzinfo=SHANGHAI)
    began = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - began)


def _run(settings: Settings, args: argparse.Namespace, pushes: dict[str, PushSpec]) -> int:
    from dashboards.notifiers.robots import Robot
    from dashboards.pushes.runner import send
    from dashboards.pushes.schedule import (
        Ledger,
        PushScheduler,
        ledger_file,
        serve_pictures,
        single_instance,
    )

    robots: dict[str, Robot] = {}

    def send_run(push: PushSpec, fire: datetime) -> str:
        outcome = send(settings, push, fire.date() - timedelta(days=1), robots)
        results = ", ".join(f"{c} {r}" for c, r in outcome.results.items())
        return ("sent: " if outcome.ok else "failed: ") + results

    with single_instance(settings):
        server = serve_pictures(settings)
        scheduler = PushScheduler(
            settings, pushes, Ledger(ledger_file(settings)), send_run, drill_clock(args.clock_start)
        )
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        log.info(
            "push service: %d pushes, pictures on 127.0.0.1:%d; next: %s",
            len(pushes),
            settings.push.image_port,
            ", ".join(f"{n} {t:%m-%d %H:%M}" for n, t in scheduler.next_runs().items()),
        )
        try:
            scheduler.run(stop)
        finally:
            server.shutdown()
            server.server_close()
    return 0


ACTIONS = {"list": _list, "preview": _preview, "send": _send, "status": _status, "run": _run}
