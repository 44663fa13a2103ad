"""`erpbi analyze NAME`: one of the five sales analyses, as a table or JSON, with its insight.

Examples:
  erpbi analyze top-sellers --insight
  erpbi analyze affinity --days 60 --format json
  erpbi analyze inventory-status
  erpbi analyze customer-tiers --day 2026-11-30
  erpbi analyze seasonal --insight

Every window ends on --day (default: yesterday, Asia/Shanghai), the last complete day.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from common.settings import Settings
from warehouse.analysis.analyses import ANALYSES, Query, run

SHANGHAI = ZoneInfo("Asia/Shanghai")


def yesterday() -> date:
    return datetime.now(SHANGHAI).date() - timedelta(days=1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erpbi analyze",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    names = ", ".join(
        f"{name} ({spec.title}, {spec.default_days} 天)" for name, spec in ANALYSES.items()
    )
    parser.add_argument("name", choices=list(ANALYSES), metavar="NAME", help=names)
    parser.add_argument(
        "--day",
        type=date.fromisoformat,
        default=None,
        help="the last day of the window (default: yesterday)",
    )
    parser.add_argument("--days", type=int, default=None, help="window length in days")
    parser.add_argument("--limit", type=int, default=10, help="rows of a ranked list")
    parser.add_argument("--insight", action="store_true", help="print the written insight too")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    return parser


def warehouse_query(settings: Settings) -> tuple[Query, Any]:
    from warehouse.client import connect

    client = connect(settings.clickhouse)

    def query(sql: str, parameters: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in client.query(sql, parameters=parameters).result_rows]

    return query, client


def main(settings: Settings, argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if args.days is not None and args.days < 1:
        print("--days must be at least 1")
        return 2
    query, client = warehouse_query(settings)
    try:
        analysis = run(args.name, query, args.day or yesterday(), args.days, args.limit)
    finally:
        client.close()
    if args.format == "json":
        print(analysis.as_json(with_insight=args.insight))
    else:
        print(analysis.as_table(with_insight=args.insight))
    return 0
