"""`erpbi dlq`: read the dead letters, and replay them once their cause is fixed.

    erpbi dlq list --stream outbound --since 2h          # what was dead-lettered, and why
    erpbi dlq list --all --reason "not UTF-8"
    erpbi dlq show --stream outbound 0:17                # one letter, its record in full
    erpbi dlq replay --stream outbound --reason "missing io_id"
    erpbi dlq replay --stream outbound --reason "not UTF-8" --charset gbk
    erpbi dlq replay --stream outbound --reason "missing io_id" --rename ioId=io_id
    erpbi dlq replay --stream outbound --id 0:21 --set "io_date=2026-02-28 10:00:00"

Replay sends each letter's record back to the ODS topic it came from, with its original
key: first fix the cause (a parsing rule of the job, a dimension that was missing), or fix
the record itself with --charset, --rename or --set. A record is sent once: a second
replay of the same letters sends nothing (--again sends them anyway), and every record
sent is in <run>/data/dlq/replayed.jsonl. Letters the connectors wrote (the ERP row failed
validation) and rows ClickHouse refused never reached an ODS topic: re-pull their days
with `erpbi backfill` once the cause is fixed. Dead letters are kept as long as Kafka keeps
the topics (7 days).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from tqdm import tqdm  # type: ignore[import-untyped]

from backfill.cli import ljust
from backfill.dead_letters import DLQ_STREAMS, DeadLetter, fetch_records, read_letters
from backfill.dlq_replay import Repair, ReplayLedger, ReplayOutcome, ledger_path, replay
from common.settings import Settings
from connectors.models import BEIJING

_RELATIVE = re.compile(r"^(\d+)\s*([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
PREVIEW_CHARSETS = ("gb18030", "big5", "utf-16")  # tried on bytes that are not UTF-8


def since_ms(text: str) -> int:
    """``30m``, ``2h``, ``3d`` ago, or a Beijing time ``2026-12-03 10:00`` / a day."""
    match = _RELATIVE.match(text.strip())
    if match:
        ago = timedelta(**{_UNITS[match[2]]: int(match[1])})
        return int((time.time() - ago.total_seconds()) * 1000)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"--since wants 30m, 2h, 3d or a Beijing time like 2026-12-03 10:00, not {text!r}"
        ) from error
    return int(moment.replace(tzinfo=moment.tzinfo or BEIJING).timestamp() * 1000)


def _pair(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"want NAME=VALUE, not {text!r}")
    return name, value


def _charset(text: str) -> str:
    try:
        "".encode(text)
    except LookupError as error:
        raise argparse.ArgumentTypeError(f"unknown charset {text!r}") from error
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="erpbi dlq", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="list|show|replay")
    for name, help_text in (
        ("list", "the letters, newest last"),
        ("replay", "send the letters' records back through the pipeline"),
    ):
        sub = commands.add_parser(name, help=help_text)
        which = sub.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--stream", action="append", choices=DLQ_STREAMS, help="a stream (repeatable)"
        )
        which.add_argument("--all", action="store_true", help="every stream")
        sub.add_argument("--reason", help="only letters whose reason contains this text")
        sub.add_argument(
            "--since",
            type=since_ms,
            default=0,
            help="only letters written since: 30m, 2h, 3d, or 2026-12-03 10:00",
        )
        sub.add_argument(
            "--id",
            action="append",
            dest="ids",
            metavar="P:O",
            help="only this letter (as list shows it; repeatable)",
        )
    show = commands.add_parser("show", help="one letter in full, its record's bytes included")
    show.add_argument("--stream", required=True, choices=DLQ_STREAMS)
    show.add_argument("letter_id", metavar="P:O", help="the letter, as list shows it")
    replay_parser = commands.choices["replay"]
    replay_parser.add_argument(
        "--charset", type=_charset, help="the records are really in this charset (e.g. gbk)"
    )
    replay_parser.add_argument(
        "--rename",
        action="append",
        type=_pair,
        default=[],
        metavar="SENT=READ",
        help="a field sent under another name",
    )
    replay_parser.add_argument(
        "--set",
        action="append",
        type=_pair,
        default=[],
        dest="values",
        metavar="FIELD=VALUE",
        help="set a field in every record",
    )
    replay_parser.add_argument(
        "--again", action="store_true", help="send records already replayed once more"
    )
    replay_parser.add_argument(
        "--dry-run", action="store_true", help="say what would be sent, send nothing"
    )
    return parser


def main(settings: Settings, argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    if args.command == "show":
        return show(settings, args.stream, args.letter_id)
    letters = selected(settings, args)
    if args.command == "list":
        print(format_letters(letters, ReplayLedger(ledger_path(settings)).replayed()))
        return 0
    repair = Repair(charset=args.charset, renames=tuple(args.rename), values=tuple(args.values))
    with tqdm(desc="重放", unit="条", disable=None, file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        outcome = replay(
            settings, letters, repair, again=args.again, dry_run=args.dry_run, progress=progress
        )
    print(format_outcome(outcome, repair, args.dry_run))
    return 1 if outcome.failed else 0


def selected(settings: Settings, args: argparse.Namespace) -> list[DeadLetter]:
    streams = DLQ_STREAMS if args.all else list(dict.fromkeys(args.stream))
    letters = [
        letter for stream in streams for letter in read_letters(settings, stream, args.since)
    ]
    return [
        letter
        for letter in letters
        if (not args.reason or args.reason in letter.reason)
        and (not args.ids or letter.letter_id in args.ids)
    ]


def format_letters(letters: list[DeadLetter], replayed: dict[str, dict[str, object]]) -> str:
    """One line per letter. 已重放: 是 / 否 / 再次失败 (the letter of a record a replay sent,
    which failed again: replay it with the right fix) / 需重拉 (not on Kafka)."""
    if not letters:
        return "没有死信"
    sent = {str(entry.get("sent_to")) for entry in replayed.values()}
    done = sum(1 for letter in letters if letter.source and str(letter.source) in replayed)
    lines = [f"死信 {len(letters)} 条 (已重放 {done} 条)",
             f"{ljust('流', 19)}{ljust('编号', 9)}{ljust('写入时间', 21)}{ljust('阶段', 30)}"
             f"{ljust('已重放', 10)}原因"]  # fmt: skip
    for letter in sorted(letters, key=lambda item: item.written_at_ms):
        lines.append(
            f"{ljust(letter.stream, 19)}{ljust(letter.letter_id, 9)}"
            f"{letter.written_at:%Y-%m-%d %H:%M:%S}  {ljust(letter.stage[:29], 30)}"
            f"{ljust(_replay_state(letter, replayed, sent), 10)}{letter.reason}"
        )
    return "\n".join(lines)


def _replay_state(letter: DeadLetter, replayed: Mapping[str, object], sent: set[str]) -> str:
    if letter.source is None:
        return "需重拉"
    if str(letter.source) in replayed:
        return "是"
    return "再次失败" if str(letter.source) in sent else "否"


def show(settings: Settings, stream: str, letter_id: str) -> int:
    letter = next(
        (item for item in read_letters(settings, stream) if item.letter_id == letter_id), None
    )
    if letter is None:
        print(f"{stream} 没有死信 {letter_id} (erpbi dlq list --stream {stream})", file=sys.stderr)
        return 1
    replayed = ReplayLedger(ledger_path(settings)).replayed().get(str(letter.source))
    lines = [
        f"死信      {letter.stream}@{letter.letter_id}",
        f"写入时间  {letter.written_at:%Y-%m-%d %H:%M:%S}",
        f"阶段      {letter.stage}",
        f"原因      {letter.reason}",
        f"来源      {letter.source or '不在 Kafka 上 (重拉这天: erpbi backfill)'}",
        f"键        {_readable(letter.key) if letter.key is not None else '-'}",
        f"已重放    {_replayed_text(replayed)}",
        f"内容      {letter.payload}",
    ]
    if letter.original is not None:
        lines.append(f"原始字节  {_readable(letter.original)}")
    elif letter.source is not None:
        found = fetch_records(settings, [letter.source]).get(letter.source)
        record = _readable(found[1]) if found else "已过 Kafka 保留期 (replay 将按内容重建)"
        lines.append(f"原始记录  {record}")
    print("\n".join(lines))
    return 0


def _replayed_text(entry: dict[str, object] | None) -> str:
    if not entry:
        return "否"
    when = datetime.fromtimestamp(int(str(entry["replayed_at"])) / 1000, BEIJING)
    return f"{when:%Y-%m-%d %H:%M:%S} 送到 {entry['sent_to']} ({entry['repair']})"


def _readable(data: bytes) -> str:
    """UTF-8 text as it is; other bytes escaped, with what they read as in likely charsets."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        guesses = []
        for charset in PREVIEW_CHARSETS:
            try:
                guesses.append(f"按 {charset} 读作: {data.decode(charset)}")
            except UnicodeDecodeError:
                continue
        return "\n          ".join([f"不是 UTF-8: {data!r}", *guesses[:1]])


def format_outcome(outcome: ReplayOutcome, repair: Repair, dry_run: bool) -> str:
    verb = "将重放" if dry_run else "已重放"
    lines = [f"{verb} {len(outcome.sent)} 条记录 (修复: {repair.describe()})"]
    if outcome.rebuilt:
        lines.append(f"  其中 {outcome.rebuilt} 条原记录已过 Kafka 保留期, 按死信内容重建")
    if outcome.already:
        lines.append(f"跳过 {len(outcome.already)} 条: 已重放过 (--again 再送一次)")
    for letter, why in outcome.failed:
        lines.append(f"失败 {letter.stream}@{letter.letter_id}: {why}")
    if outcome.not_on_kafka:
        streams = sorted({letter.stream for letter in outcome.not_on_kafka})
        lines.append(
            f"{len(outcome.not_on_kafka)} 条不在 Kafka 上 (连接器或 ClickHouse 拒收): "
            f"修好原因后用 erpbi backfill --stream {'/'.join(streams)} 重拉当天"
        )
    return "\n".join(lines)
