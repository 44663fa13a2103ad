"""``erpbi``: one command for the stack, each stage, and operations.

Examples::

    erpbi up                 # whole single-machine stack with the ERP simulator
    erpbi status             # health, pid, memory and address of every service
    erpbi logs kafka -n 50   # one place for logs: <run_dir>/logs/<service>.log
    erpbi sync inventory --once
    erpbi down
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.settings import PROFILES, Settings, load_settings
from erpbi import stack
from erpbi.services import SERVICES
from flink_jobs.health import PipelineHealth, pipeline_health

SERVICE_NAMES = [service.name for service in SERVICES]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erpbi",
        description="ERP Realtime BI: Jushuitan ERP -> Kafka -> Flink -> ClickHouse -> Superset.",
        epilog="Settings: erpbi.yaml (or $ERPBI_CONFIG) and ERPBI_* variables; see `erpbi config`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--profile", choices=PROFILES,
        help="settings profile for this command (default: the last `up --profile`, else single)",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up", help="start the stack (or the named services) and wait until ready"
    )
    up.add_argument("services", nargs="*", choices=[[]] + SERVICE_NAMES, metavar="SERVICE")
    up.add_argument(
        "--profile", choices=PROFILES, dest="up_profile",
        help="settings profile (common/profiles): cluster = Flink session cluster + 3 Kafka "
        "brokers; later commands use it until another `up --profile`",
    )  # fmt: skip
    down = commands.add_parser("down", help="stop the stack (or the named services)")
    down.add_argument("services", nargs="*", choices=[[]] + SERVICE_NAMES, metavar="SERVICE")
    status = commands.add_parser("status", help="health of every service")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    logs = commands.add_parser("logs", help="show a service's log (all services: the log folder)")
    logs.add_argument("service", nargs="?", choices=SERVICE_NAMES)
    logs.add_argument("-n", "--lines", type=int, default=40, help="lines from the end")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    commands.add_parser("config", help="print the effective settings (secrets masked)")

    sync = commands.add_parser("sync", help="pull ERP streams into Kafka")
    sync.add_argument("streams", nargs="*", help="streams to sync (default with --all: every one)")
    sync.add_argument("--all", action="store_true", help="every stream")
    mode = sync.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one pass, then exit (default)")
    mode.add_argument("--follow", action="store_true", help="keep polling until stopped")
    mode.add_argument(
        "--status", action="store_true", help="cursors, lag, retry windows and quota use per stream"
    )

    jobs = commands.add_parser("jobs", help="Flink jobs: deploy, status, cancel")
    jobs.add_argument("action", choices=["deploy", "status", "cancel"])

    _delegated(
        commands, "simulator", "drive the ERP simulator (stock, promotions, faults, traffic)"
    )

    dims = commands.add_parser("dims", help="dimension data users maintain")
    dims_actions = dims.add_subparsers(dest="action", required=True, metavar="ACTION")
    load = dims_actions.add_parser(
        "load", help="load the shop sheet (shop_id, owner, region, platform_fee_rate) from CSV/XLSX"
    )
    load.add_argument("file", type=Path, help="a .csv or .xlsx file; headers in English or 中文")

    _delegated(
        commands,
        "dashboards",
        "dashboards: provision the screens into Superset, check them in a browser",
    )
    _delegated(
        commands,
        "alerts",
        "alerts: the threshold rules, what they find now, silences, status, the service",
    )
    _delegated(
        commands,
        "push",
        "push: the scheduled chat-bot pushes (list, preview, send, status, the service)",
    )
    _delegated(
        commands,
        "analyze",
        "analyze: top-sellers, affinity, inventory-status, customer-tiers, seasonal",
    )
    _delegated(
        commands,
        "monitor",
        "monitor: the monitor service, freshness and Kafka lag, Prometheus addresses",
    )
    _delegated(
        commands,
        "backfill",
        "backfill: re-pull past ERP days of the fact streams (resumable), and its status",
    )
    _delegated(
        commands,
        "reconcile",
        "reconcile: compare ERP days with the warehouse, repair the difference, report it",
    )
    _delegated(
        commands,
        "dlq",
        "dlq: list, show and replay dead letters (records the pipeline could not use)",
    )
    _delegated(
        commands,
        "warehouse",
        "warehouse: migrate, metrics, refresh, forecast, serving-status, explain-change",
    )
    return parser


def _delegated(commands: Any, name: str, help_text: str) -> None:
    """A command whose arguments, --help included, go whole to its stage's own parser
    (``<name>_args``)."""
    commands.add_parser(name, help=help_text, add_help=False, prefix_chars="\0").add_argument(
        f"{name}_args", nargs=argparse.REMAINDER
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    settings = settings_for(args)
    handler = COMMANDS[args.command]
    try:
        return handler(settings, args)
    except stack.ServiceStartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def settings_for(args: argparse.Namespace) -> Settings:
    """The settings of this command's profile: named on the command line (``up`` remembers
    it in the default run folder), else set by ERPBI_PROFILE or erpbi.yaml, else the one
    the last ``erpbi up --profile`` named."""
    default = load_settings()
    marker = default.paths.run_dir / "profile"
    named = getattr(args, "up_profile", None) or args.profile
    if named:
        if args.command == "up":
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(named + "\n", encoding="utf-8")
        return load_settings(profile=named)
    if default.profile == "single" and "ERPBI_PROFILE" not in os.environ and marker.exists():
        remembered = marker.read_text(encoding="utf-8").strip()
        if remembered in PROFILES and remembered != "single":
            return load_settings(profile=remembered)
    return default


def _up(settings: Settings, args: argparse.Namespace) -> int:
    stack.up(settings, args.services or None)
    return 0


def _down(settings: Settings, args: argparse.Namespace) -> int:
    stack.down(settings, args.services or None)
    return 0


def _status(settings: Settings, args: argparse.Namespace) -> int:
    rows = stack.status(settings)
    ready = {row.name: row.ready for row in rows}
    health = _pipeline_health(settings, ready)
    if args.json:
        print(json.dumps({"services": [row.__dict__ for row in rows],
                          "pipeline": health.as_dict() if health else None}, indent=2))  # fmt: skip
    else:
        print(f"{'service':<19} {'state':<9} {'pid':>7} {'rss MiB':>8}  address")
        for row in rows:
            state = "ready" if row.ready else ("starting" if row.running else "stopped")
            pid = str(row.pid) if row.pid else "-"
            print(f"{row.name:<19} {state:<9} {pid:>7} {row.rss_mb:8.0f}  {row.listens}")
        if health is not None:
            print(format_pipeline_health(health))
        if health is not None and ready.get("clickhouse"):
            from erpbi.monitor import format_lag_and_freshness

            print(format_lag_and_freshness(settings))
        print(f"logs: {settings.paths.logs_dir}")
    healthy = health is None or not health.degraded
    return 0 if all(row.ready for row in rows) and healthy else 3


def _pipeline_health(settings: Settings, ready: dict[str, bool]) -> PipelineHealth | None:
    """The pipeline's landing health, when Kafka and the job can be asked."""
    from kafka.errors import KafkaError

    from common.streams import ODS_STREAMS
    from erpbi.jobs import rest_base

    if not ready.get("kafka", settings.flink.mode == "cluster"):
        return None
    try:
        return pipeline_health(settings, rest_base(settings), ODS_STREAMS)
    except KafkaError as error:
        print(f"pipeline health unknown: Kafka did not answer ({error})", file=sys.stderr)
        return None


def format_pipeline_health(health: PipelineHealth) -> str:
    """The ``pipeline`` line of ``erpbi status`` and, under it, the recent dead letters."""
    if not health.sink.reachable:
        state, detail = "unknown", "no running pipeline job answered"
    else:
        state = "degraded" if health.degraded else "ok"
        detail = " | ".join(health.problems()) or "every table landing"
    lines = [f"{'pipeline':<16} {state:<9} {detail}"]
    if health.dead_letters:
        lines.append(f"dead letters in the last {health.window_minutes} min:")
        for letter in health.dead_letters:
            at = time.strftime("%H:%M:%S", time.localtime(letter.last_at_ms / 1000))
            lines.append(f"  {letter.stream:<20} {letter.stage:<32} {letter.count:>6}  "
                         f"last {at}: {' '.join(letter.last_reason.split())[:160]}")  # fmt: skip
    return "\n".join(lines)


def _logs(settings: Settings, args: argparse.Namespace) -> int:
    if args.service is None:
        for path in sorted(settings.paths.logs_dir.glob("*.log")):
            print(path)
        return 0
    path = settings.paths.logs_dir / f"{args.service}.log"
    if not path.exists():
        print(f"no log yet: {path}", file=sys.stderr)
        return 1
    _tail(path, args.lines, args.follow)
    return 0


def _tail(path: Path, lines: int, follow: bool) -> None:
    with open(path, errors="replace") as handle:
        for line in handle.readlines()[-lines:]:
            print(line, end="")
        while follow:
            line = handle.readline()
            if line:
                print(line, end="", flush=True)
            else:
                time.sleep(0.5)


def _config(settings: Settings, args: argparse.Namespace) -> int:
    print(json.dumps(settings.masked_dump(), indent=2, ensure_ascii=False, default=str))
    return 0


def _sync(settings: Settings, args: argparse.Namespace) -> int:
    from connectors.cli import STREAMS, print_status, run_sync
    from connectors.errors import SyncIncompleteError

    if args.status:
        print(print_status(settings))
        return 0
    streams = list(args.streams) or (list(STREAMS) if args.all else [])
    unknown = sorted(set(streams) - set(STREAMS))
    if not streams or unknown:
        print(f"name streams to sync ({', '.join(STREAMS)}), or --all", file=sys.stderr)
        return 2
    stop = threading.Event()
    _stop_on_signals(stop)
    if args.follow:  # the long-running connector service: Prometheus scrapes it
        from connectors.metrics import serve

        serve(settings.monitoring.connector_port, settings.monitoring.metrics_bind)
    try:
        run_sync(settings, streams, follow=args.follow, stop_event=stop)
    except SyncIncompleteError as error:
        print(f"sync incomplete, run it again: {error}", file=sys.stderr)
        return 1
    return 0


def _stop_on_signals(stop: threading.Event) -> None:
    import signal

    def handle(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _jobs(settings: Settings, args: argparse.Namespace) -> int:
    from erpbi import jobs

    return jobs.run_action(settings, args.action)


def _dims(settings: Settings, args: argparse.Namespace) -> int:
    from connectors.kafka_producer import KafkaRecordProducer
    from connectors.shop_sheet import load_shop_sheet

    producer = KafkaRecordProducer(settings.kafka)
    try:
        report = load_shop_sheet(args.file, producer, settings.kafka)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        producer.close()
    print(f"loaded {report.loaded} shop(s) from {args.file}")
    for row, reason in report.rejected:
        print(f"  rejected row {row}: {reason}", file=sys.stderr)
    return 0 if not report.rejected else 1


def _simulator(settings: Settings, args: argparse.Namespace) -> int:
    from erp_simulator.cli import main as simulator_main

    return int(simulator_main(list(args.simulator_args)) or 0)


def _warehouse(settings: Settings, args: argparse.Namespace) -> int:
    from warehouse.cli import main as warehouse_main

    return warehouse_main(settings.clickhouse, list(args.warehouse_args))


def _dashboards(settings: Settings, args: argparse.Namespace) -> int:
    from dashboards.cli import main as dashboards_main

    return dashboards_main(settings, list(args.dashboards_args))


def _alerts(settings: Settings, args: argparse.Namespace) -> int:
    from dashboards.alerting.cli import main as alerts_main

    return alerts_main(settings, list(args.alerts_args))


def _push(settings: Settings, args: argparse.Namespace) -> int:
    from dashboards.pushes.cli import main as push_main

    return push_main(settings, list(args.push_args))


def _backfill(settings: Settings, args: argparse.Namespace) -> int:
    from backfill.cli import main as backfill_main

    return backfill_main(settings, list(args.backfill_args))


def _reconcile(settings: Settings, args: argparse.Namespace) -> int:
    from backfill.reconcile_cli import main as reconcile_main

    return reconcile_main(settings, list(args.reconcile_args))


def _dlq(settings: Settings, args: argparse.Namespace) -> int:
    from backfill.dlq_cli import main as dlq_main

    return dlq_main(settings, list(args.dlq_args))


def _monitor(settings: Settings, args: argparse.Namespace) -> int:
    from erpbi.monitor import main as monitor_main

    return monitor_main(settings, list(args.monitor_args))


def _analyze(settings: Settings, args: argparse.Namespace) -> int:
    from warehouse.analysis.cli import main as analyze_main

    return analyze_main(settings, list(args.analyze_args))


COMMANDS = {
    "up": _up,
    "down": _down,
    "status": _status,
    "logs": _logs,
    "config": _config,
    "sync": _sync,
    "jobs": _jobs,
    "dims": _dims,
    "simulator": _simulator,
    "warehouse": _warehouse,
    "dashboards": _dashboards,
    "alerts": _alerts,
    "analyze": _analyze,
    "push": _push,
    "monitor": _monitor,
    "backfill": _backfill,
    "reconcile": _reconcile,
    "dlq": _dlq,
}
