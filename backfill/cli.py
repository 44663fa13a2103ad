"""`erpbi backfill`: re-pull past ERP days of the fact streams into Kafka.

    erpbi backfill --stream outbound --from 2026-11-01 --to 2026-11-03
    erpbi backfill --all --from 2026-12-01            # one day, every fact stream
    erpbi backfill status                             # what each stream has re-pulled

The same connectors and topics as the live sync (same keys, same versions: the warehouse
collapses what it already holds). The backfill draws on the app key's shared quota: at
most ``backfill.share_per_minute`` calls a minute, which the live streams leave it. Stopped
(Ctrl-C, SIGTERM, even SIGKILL) it resumes where it stopped when run again with the same
days; ``--restart`` pulls days already done again.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import unicodedata
from collections.abc import Sequence
from datetime import date
from types import FrameType
from typing import Any

from tqdm import tqdm  # type: ignore[import-untyped]

from backfill.days import BACKFILL_STREAMS, Day, days_between
from backfill.repull import DayProgress, DayRepull, Totals
from common.settings import Settings
from connectors.cli import build_connectors, build_source
from connectors.jushuitan.quota import QuotaBudget
from connectors.kafka_producer import KafkaRecordProducer
from connectors.state import CursorStore
from connectors.status import state_directory
from connectors.tscursor import TsCursorConnector

log = logging.getLogger(__name__)


def progress_store(settings: Settings) -> CursorStore:
    return CursorStore(settings.paths.data_dir / "backfill")


def days_parser(prog: str, description: str | None, verb: str) -> argparse.ArgumentParser:
    """``--stream S``/``--all``, ``--from DATE``, ``--to DATE``: what backfill and reconcile
    both take; the ``--from`` option is in group ``parser.when`` for alternatives to it."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--stream", action="append", choices=BACKFILL_STREAMS,
                       help=f"a fact stream to {verb} (repeatable)")  # fmt: skip
    which.add_argument("--all", action="store_true", help="every fact stream")
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--from", dest="first", type=date.fromisoformat, metavar="DATE",
                      help="first ERP day (Beijing), YYYY-MM-DD")  # fmt: skip
    parser.add_argument("--to", dest="last", type=date.fromisoformat, metavar="DATE",
                        help="last ERP day, included (default: --from)")  # fmt: skip
    parser.set_defaults(when=when)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = days_parser("erpbi backfill", __doc__, "re-pull")
    parser.add_argument("--restart", action="store_true",
                        help="pull those days again even where a run finished them")  # fmt: skip
    return parser


def main(settings: Settings, argv: Sequence[str]) -> int:
    if list(argv[:1]) == ["status"]:
        print(format_status(settings))
        return 0
    parser = build_parser()
    args = parser.parse_args(list(argv))
    if not (args.stream or args.all) or args.first is None:
        parser.error("say which streams (--stream S or --all) and which days (--from DATE)")
    streams = list(BACKFILL_STREAMS) if args.all else list(dict.fromkeys(args.stream))
    try:
        days = list(days_between(args.first, args.last or args.first))
    except ValueError as error:
        parser.error(str(error))
    totals = run_backfill(settings, streams, days, restart=args.restart)
    span = f"{', '.join(streams)}; {days[0]}..{days[-1]}"
    print(f"回补完成: {totals.rows} 行, {totals.calls} 次接口调用, "
          f"{totals.dead_letters} 条死信 ({span})")  # fmt: skip
    return 0


def run_backfill(
    settings: Settings,
    streams: Sequence[str],
    days: Sequence[Day],
    *,
    restart: bool = False,
    stop_event: threading.Event | None = None,
    show_progress: bool | None = None,
) -> Totals:
    """Re-pull ``days`` of ``streams``; returns what this run did."""
    stop_event = stop_event or threading.Event()
    store = progress_store(settings)
    if restart:
        forget(store, streams, days)
    budget, producer, connectors = background_connectors(settings, streams, store, stop_event)
    totals = Totals()
    # A bar on a terminal (tqdm leaves it out when stderr is not one); False: never.
    bar = tqdm(desc="回补", unit="页", disable=True if show_progress is False else None)
    restore = stop_on_signals(stop_event, budget)

    def on_page(current: Totals) -> None:
        bar.total = bar.n + 1 + current.pages_left
        slices = f"{current.days_done}/{current.days}"  # days, per warehouse for inventory
        bar.set_postfix(行=current.rows, 调用=current.calls, 批=slices)
        bar.update(1)

    try:
        for connector in connectors:
            DayRepull(connector, store, max_rereads=settings.backfill.max_day_rereads,
                      stop_event=stop_event, on_page=on_page).run(days, totals)  # fmt: skip
            log.info("backfill %s: %d rows so far", connector.stream,
                     totals.by_stream.get(connector.stream, 0))  # fmt: skip
    finally:
        bar.close()
        restore()
        producer.close()
    return totals


def background_connectors(
    settings: Settings, streams: Sequence[str], store: CursorStore, stop_event: threading.Event
) -> tuple[QuotaBudget, KafkaRecordProducer, list[TsCursorConnector]]:
    """The fact streams' connectors on a background share of the quota (the live streams
    keep the rest), producing into the live topics."""
    budget = QuotaBudget.from_settings(
        settings.jushuitan, background_share=settings.backfill.share_per_minute
    )
    source = build_source(settings, state_directory(settings), budget=budget)
    producer = KafkaRecordProducer(settings.kafka, client_id="erpbi-backfill")
    connectors = [  # every fact stream reads by ts cursor, per partition (warehouse)
        connector
        for connector in build_connectors(
            settings, streams, source=source, producer=producer, store=store, stop_event=stop_event
        )  # fmt: skip
        if isinstance(connector, TsCursorConnector)
    ]
    return budget, producer, connectors


def forget(store: CursorStore, streams: Sequence[str], days: Sequence[Day]) -> None:
    wanted = {str(day) for day in days}
    for stream in streams:
        state = store.load(stream)
        saved: dict[str, Any] = state.get("days", {})
        state["days"] = {k: v for k, v in saved.items() if k.split("|")[-1] not in wanted}
        store.save(stream, state)


def stop_on_signals(stop: threading.Event, budget: QuotaBudget | None) -> Any:
    """SIGINT/SIGTERM: finish the page in hand (its acks and progress), then stop."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if budget is not None:
            budget.interrupt()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(sig, old) for sig, old in previous.items()]


def format_status(settings: Settings) -> str:
    """Per stream and day: pages and rows re-pulled, done or where it stopped."""
    store = progress_store(settings)
    lines = ["stream              day         state      pages     rows"]
    for stream in BACKFILL_STREAMS:
        by_day: dict[str, list[DayProgress]] = {}
        for key, raw in store.load(stream).get("days", {}).items():
            by_day.setdefault(key.split("|")[-1], []).append(DayProgress.from_state(raw))
        for day, parts in sorted(by_day.items()):
            done = all(part.done for part in parts)
            state = "完成" if done else "未完成(再次运行即续传)"
            lines.append(f"{stream:<19} {day}  {state:<10} {sum(p.pages for p in parts):>5}"
                         f" {sum(p.rows for p in parts):>8}")  # fmt: skip
    if len(lines) == 1:
        lines.append("(还没有回补过)")
    return "\n".join([*lines, "", reconciliation_status(settings)])


STATUS_COLUMNS = [("ERP行数", 7), ("仓库行数", 8), ("缺失", 5), ("过期", 5), ("多余", 5),
                  ("已修复", 6), ("重新关联", 8), ("遗留", 5)]  # fmt: skip


def display_width(text: str) -> int:
    """Terminal columns: a Chinese character takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def ljust(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def columns_header(columns: Sequence[tuple[str, int]]) -> str:
    """Titles right-aligned over number columns ``f"{value:>width}"`` joined by a space."""
    return " ".join(" " * max(0, width - display_width(t)) + t for t, width in columns)


def reconciliation_status(settings: Settings, days: int = 14) -> str:
    """The newest reconciliation of each stream and day of the last ``days`` days."""
    from warehouse.client import connect

    try:
        client = connect(settings.clickhouse)
        try:
            rows = client.query(
                "SELECT stream, day, trigger, at, erp_rows, warehouse_rows, missing, stale, "
                "extra, repaired, rewidened, left_over FROM ops_reconciliation_latest "
                "WHERE day >= today() - {days:UInt32} ORDER BY day DESC, stream",
                parameters={"days": days},
            ).result_rows
        finally:
            client.close()
    except Exception as error:  # noqa: BLE001 - the backfill part above still helps
        return f"对账报告: 读不到仓库 ({type(error).__name__}: {error})"
    header = (f"{'stream':<19} {'day':<10}  {ljust('方式', 6)} {ljust('完成时间', 19)} "
              + columns_header(STATUS_COLUMNS))  # fmt: skip
    lines = [f"对账报告 (最近 {days} 天, 每个数据流每天最新一次):", header]
    for stream, day, trigger, at, *figures in rows:
        how = "每晚" if trigger == "nightly" else "手动"
        numbers = " ".join(f"{value:>{width}}" for value, (_, width) in
                           zip(figures, STATUS_COLUMNS, strict=True))  # fmt: skip
        lines.append(f"{stream:<19} {day}  {ljust(how, 6)} {at:%Y-%m-%d %H:%M:%S} {numbers}"
                     + ("  <- 仍有差异" if figures[-1] else ""))  # fmt: skip
    if not rows:
        lines.append("(还没有对过账: erpbi reconcile --yesterday)")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    from common.settings import load_settings

    sys.exit(main(load_settings(), sys.argv[1:]))
