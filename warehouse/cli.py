"""`erpbi warehouse ...`: migrations, the metric catalogue, refreshes, "why did it change"."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone

from common.settings import ClickHouseSettings

SHANGHAI = timezone(timedelta(hours=8))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="erpbi warehouse", description=__doc__)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("migrate", help="apply pending migrations and (re)create the metric views")
    metrics = actions.add_parser("metrics", help="list the metric catalogue")
    metrics.add_argument("--write-doc", action="store_true",
                         help="regenerate docs/metrics.md from the catalogue")  # fmt: skip
    actions.add_parser("refresh", help="refresh every DWS serving table now and wait for it")
    actions.add_parser("serving-status", help="refresh status of the DWS serving tables")
    access_parser = actions.add_parser(
        "access", help="who owns which shop (RLS source of truth); row policies for a real server"
    )
    access_parser.add_argument(
        "--apply-row-policies", action="store_true",
        help="create the per-shop row policies (a real ClickHouse server with access control)",
    )  # fmt: skip
    forecast = actions.add_parser(
        "forecast", help="make today's hourly and the next 30 days' outbound forecasts now"
    )
    forecast.add_argument(
        "--every", type=float, default=None, metavar="SECONDS",
        help="keep remaking them every SECONDS until stopped (a service)",
    )  # fmt: skip
    explain = actions.add_parser(
        "explain-change", help="split a day's outbound amount change by shop, platform, category"
    )
    explain.add_argument("--day", type=date.fromisoformat, default=None,
                         help="YYYY-MM-DD (GMT+8); default today")  # fmt: skip
    explain.add_argument("--compare", choices=["dod", "wow"], default="dod",
                         help="against the day before (dod) or 7 days before (wow)")  # fmt: skip
    explain.add_argument("--top", type=int, default=5, help="contributors shown per dimension")
    return parser


def _forecast_forever(client: object, seconds: float) -> None:
    """The forecaster service: remake the forecasts every ``seconds`` until SIGTERM/SIGINT."""
    import logging
    import signal
    import threading

    from warehouse.forecast import job as forecast_job

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    forecast_job.run_every(client, seconds, stop)


def main(clickhouse: ClickHouseSettings, argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if args.action == "metrics":
        return _metrics(args.write_doc)
    if args.action == "migrate":
        from warehouse.migrate import migrate

        applied = migrate(clickhouse)
        print(f"applied {len(applied)} migration(s)")
        for migration in applied:
            print(f"  {migration.version:04d} {migration.name}")
        return 0
    from warehouse import access, explain, serving
    from warehouse.client import connect
    from warehouse.forecast import job as forecast_job

    client = connect(clickhouse)
    try:
        if args.action == "refresh":
            views = serving.refresh_now(client)
            print(f"refreshed {len(views)} serving view(s): {', '.join(views)}")
            run = forecast_job.run_once(client)
            print(f"forecast for {run.today}: hourly {run.hourly_model}, "
                  f"daily {run.daily_model or '-'} for {run.shops} shop(s)")  # fmt: skip
        elif args.action == "forecast":
            if args.every is None:
                run = forecast_job.run_once(client)
                print(f"forecast for {run.today}: hourly {run.hourly_model} "
                      f"({run.hourly_total:,.2f} 元 in 24 h), daily {run.daily_model or '-'} "
                      f"for {run.shops} shop(s)")  # fmt: skip
            else:
                _forecast_forever(client, args.every)
        elif args.action == "access":
            for owner, shops in access.owners(client).items():
                print(f"{owner:<16} {', '.join(map(str, shops))}")
            if args.apply_row_policies:
                tables = access.apply_row_policies(client, clickhouse.database, [clickhouse.user])
                print(f"row policy {access.POLICY_NAME} on {tables} table(s)")
        elif args.action == "serving-status":
            for row in serving.refresh_status(client):
                error = f"  error: {row['exception']}" if row["exception"] else ""
                print(f"{row['view']:<26} {row['status']:<10} last {row['last_success_time']}  "
                      f"next {row['next_refresh_time']}{error}")  # fmt: skip
        else:
            day = args.day or datetime.now(SHANGHAI).date()
            rows = explain.contributions(client, day, args.compare)
            print(explain.render(day, args.compare, rows, top=args.top))
    finally:
        client.close()
    return 0


def _metrics(write_doc: bool) -> int:
    from warehouse.metrics import docs
    from warehouse.metrics.catalogue import METRICS

    if write_doc:
        print(f"wrote {docs.write()}")
        return 0
    for item in METRICS:
        print(f"{item.family.value:<10} {item.name:<36} {item.label:<12} {item.view.name}")
    print(f"{len(METRICS)} metrics")
    return 0
