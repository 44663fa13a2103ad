"""Backfill + live sync drill: 10 minutes under the simulator's enforced quota.

    .cache/venvs/core/bin/python benchmarks/backfill_live_drill.py [--minutes 10] [--alone]

The live sync follows every stream of an ERP with 300 orders/hour of history; once it has
caught up, a backfill re-pulls the last two days of outbound on its background share
(backfill.share_per_minute) again and again, while one order is placed every 5 seconds.
Prints the quota refusals, each new order's lag to the live sync's produced record
(p50/p95/max), and both sides' calls a minute. ``--alone``: the same without the backfill
(the live streams' normal bound). The short version runs in the tests
(tests/backfill/test_backfill_with_live.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from report_table import print_table  # noqa: E402

from testkit.live_drill import run_drill  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--alone", action="store_true", help="no backfill: the live baseline")
    args = parser.parse_args(argv)
    result = run_drill(args.minutes * 60.0, orders_per_hour=300.0, backfill_days=2,
                       order_every_seconds=5.0, with_backfill=not args.alone)  # fmt: skip
    rows = [
        ("duration", f"{result.seconds:.0f} s"),
        ("quota refusals (199/200)", str(result.quota_errors)),
        ("orders placed / seen by the live sync", f"{len(result.lags) + result.unseen} / "
                                                  f"{len(result.lags)}"),
        ("live lag p50 / p95 / max", f"{result.lag(0.5):.1f} / {result.lag(0.95):.1f} / "
                                     f"{result.lag(1.0):.1f} s"),
        ("live calls a minute", f"{result.live_calls_per_minute:.1f}"),
        ("backfill calls a minute", f"{result.backfill_calls_per_minute:.1f}"),
        ("backfill rows / calls", f"{result.backfill.rows:,} / {result.backfill.calls:,}"),
    ]  # fmt: skip
    mode = "live alone" if args.alone else "backfill + live"
    print_table(f"backfill live drill ({mode})", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
