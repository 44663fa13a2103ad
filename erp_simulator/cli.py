"""``python -m erp_simulator.cli <command>``: drive a running simulator.

Every command talks to the control API of a simulator already serving (``erpbi up`` or
``python -m erp_simulator``) and prints its JSON answer. ``build_parser`` and
``main`` are public so the command can be mounted elsewhere (``erpbi simulator ...``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import requests

from erp_simulator.control import SimulatorControl

Command = Callable[[SimulatorControl, argparse.Namespace], Any]


def _default_url() -> str:
    try:
        from common.settings import load_settings

        simulator = load_settings().simulator
        return f"http://{simulator.host}:{simulator.port}"
    except Exception:  # settings broken: still let --url work
        return "http://127.0.0.1:18900"


def _fault(control: SimulatorControl, args: argparse.Namespace) -> Any:
    return {
        "pending": control.inject_fault(
            count=args.count,
            path=args.path,
            http_status=args.http_status,
            code=args.code,
            retry_after=args.retry_after,
            delay_seconds=args.delay,
            first_page_only=args.first_page_only,
            effect=args.effect,
            rows=args.rows,
            modified_offset_seconds=args.modified_offset,
        )
    }


def _promotion(control: SimulatorControl, args: argparse.Namespace) -> Any:
    if args.action == "stop":
        return control.stop_promotion()
    if args.orders_per_hour is None:
        raise SystemExit("promotion start needs --orders-per-hour")
    seconds = args.minutes * 60 if args.minutes else None
    return control.start_promotion(args.orders_per_hour, seconds)


def _traffic(control: SimulatorControl, args: argparse.Namespace) -> Any:
    if args.action == "start":
        return control.start_traffic(args.orders_per_hour, args.speed)
    if args.action == "stop":
        return control.stop_traffic()
    return control.traffic()


def _storm(control: SimulatorControl, args: argparse.Namespace) -> Any:
    status = None if args.code is not None else args.http_status
    return control.storm(
        args.seconds, http_status=status, code=args.code, retry_after=args.retry_after
    )


def _rows(control: SimulatorControl, args: argparse.Namespace) -> Any:
    rows = control.rows(args.stream, args.since_ts)
    return (
        rows if args.all else {"count": len(rows), "last": rows[-args.tail :] if args.tail else []}
    )


def build_parser(prog: str = "python -m erp_simulator.cli") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="simulator base URL (default: settings)")
    commands = parser.add_subparsers(dest="command", required=True)

    def add(name: str, run: Command, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.set_defaults(run=run)
        return sub

    add("state", lambda c, a: c.state(), "counters, config, storm, traffic")
    rows = add("rows", _rows, "what the ERP has for a stream")
    rows.add_argument("stream", help="outbound, refund, aftersale_received, inventory, sku, ...")
    rows.add_argument("--since-ts", type=int, default=None)
    rows.add_argument("--tail", type=int, default=3, help="show the last N rows")
    rows.add_argument("--all", action="store_true", help="print every row")
    stock = add("set-stock", lambda c, a: c.set_inventory(a.sku_id, a.wms_co_id, qty=a.qty),
                "set one warehouse's stock of one SKU")  # fmt: skip
    stock.add_argument("sku_id")
    stock.add_argument("wms_co_id", type=int)
    stock.add_argument("qty", type=int)
    promotion = add("promotion", _promotion, "start or stop a promotion (flat order rate)")
    promotion.add_argument("action", choices=["start", "stop"])
    promotion.add_argument("--orders-per-hour", type=float, default=None)
    promotion.add_argument("--minutes", type=float, default=None, help="default: until stopped")
    faults = add("faults", lambda c, a: _fault(c, a) if a.action == "add" else c.clear_faults(),
                 "inject faults into the next API calls, or clear them")  # fmt: skip
    faults.add_argument("action", choices=["add", "clear"])
    faults.add_argument("--count", type=int, default=1)
    faults.add_argument("--path", default=None, help="only this API path (default: any)")
    faults.add_argument("--http-status", type=int, default=None, help="e.g. 500, 503, 429")
    faults.add_argument("--code", type=int, default=None, help="API code, e.g. 199, 200, 100")
    faults.add_argument("--retry-after", type=float, default=None)
    faults.add_argument("--delay", type=float, default=0.0, help="seconds before answering")
    faults.add_argument("--first-page-only", action="store_true")
    faults.add_argument("--effect", default="", choices=["", "shift", "duplicate", "out_of_order"])
    faults.add_argument("--rows", type=int, default=1)
    faults.add_argument("--modified-offset", type=float, default=-3600.0)
    storm = add("storm", _storm, "throttle every call for a while (429 drill)")
    storm.add_argument("--seconds", type=float, required=True)
    storm.add_argument("--http-status", type=int, default=429)
    storm.add_argument("--code", type=int, default=None, help="answer this API code instead")
    storm.add_argument("--retry-after", type=float, default=1.0)
    traffic = add("traffic", _traffic, "live traffic: start, stop or show")
    traffic.add_argument("action", choices=["start", "stop", "show"], nargs="?", default="show")
    traffic.add_argument("--orders-per-hour", type=float, default=None)
    traffic.add_argument("--speed", type=float, default=None)
    generate = add("generate-orders", lambda c, a: c.generate_orders(a.count, a.settle_seconds),
                   "place N orders now")  # fmt: skip
    generate.add_argument("count", type=int)
    generate.add_argument(
        "--settle-seconds",
        type=float,
        default=0.0,
        help="also run lifecycle events due within this many seconds",
    )
    advance = add("advance", lambda c, a: c.advance(a.seconds), "run due lifecycle events now")
    advance.add_argument("seconds", type=float)
    touch = add("touch", lambda c, a: c.touch(a.stream, a.key, modified_offset_seconds=a.offset,
                                              late_commit=a.late_commit),
                "re-save a record (negative offset: out-of-order modified)")  # fmt: skip
    touch.add_argument("stream")
    touch.add_argument("key", nargs="?", default=None)
    touch.add_argument("--offset", type=float, default=0.0)
    touch.add_argument("--late-commit", action="store_true",
                       help="ts just above the record's old one: behind the live sync's cursor, "
                       "so never delivered (for the reconciliation)")  # fmt: skip
    add("expire-tokens", lambda c, a: {"expired": c.expire_tokens()}, "expire every token")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    control = SimulatorControl(args.url or _default_url())
    try:
        result = args.run(control, args)
    except requests.HTTPError as error:
        body = error.response.text if error.response is not None else ""
        print(f"simulator refused: {error} {body}", file=sys.stderr)
        return 2
    except requests.ConnectionError:
        print(f"no simulator at {control.base_url}", file=sys.stderr)
        return 3
    finally:
        control.close()
    print(json.dumps(result if result is not None else {}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
