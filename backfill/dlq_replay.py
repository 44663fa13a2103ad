"""Send dead-lettered records back through the pipeline, once, and record that they went.

A replayed record goes back onto the ODS topic it came from, with its original key, so
the Flink job reads it again as if the connector had just produced it. Before that,
a ``Repair`` may fix the record itself (its charset, a renamed field, a field's value);
when the cause was elsewhere (a parsing rule of the job, a dimension that was missing),
the record goes back as it was.

The record sent is its exact original: the bytes the letter keeps, or the record read
back from its ODS topic at the letter's position. Only when retention has dropped it
(and the letter holds no bytes) is the record rebuilt from the letter's payload.

Every record sent is appended to the replay ledger (``<run>/data/dlq/replayed.jsonl``)
under its source position: a second replay of the same letters sends nothing, and several
letters of one record (one per bad item) send it once. A crash between the send and the
ledger line sends that one record again next time, which the warehouse collapses (same
key, same version).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from backfill.dead_letters import DeadLetter, SourcePosition, fetch_records
from common.settings import Settings


class RepairError(ValueError):
    """A repair cannot be applied to this record (wrong charset, not a JSON object)."""


@dataclass(frozen=True)
class Repair:
    """What to change in each record before it is sent back (nothing by default)."""

    charset: str | None = None  # the charset the record is really in; sent as UTF-8
    renames: tuple[tuple[str, str], ...] = ()  # (field as sent, field as the job reads it)
    values: tuple[tuple[str, str], ...] = ()  # (field, value) set in every record

    @property
    def empty(self) -> bool:
        return self.charset is None and not self.renames and not self.values

    def describe(self) -> str:
        parts = [f"charset={self.charset}"] if self.charset else []
        parts += [f"rename {old}={new}" for old, new in self.renames]
        parts += [f"set {name}={value}" for name, value in self.values]
        return ", ".join(parts) or "as it was"

    def apply(self, record: bytes) -> bytes:
        if self.empty:
            return record
        try:
            text = record.decode(self.charset or "utf-8")
        except UnicodeDecodeError as error:
            raise RepairError(f"not {self.charset or 'UTF-8'}: {error.reason}") from error
        if not self.renames and not self.values:
            return text.encode()
        try:
            document = json.loads(text)
        except ValueError as error:
            raise RepairError(f"not JSON after decoding: {error}") from error
        if not isinstance(document, dict):
            raise RepairError("not a JSON object after decoding")
        for old, new in self.renames:
            if old in document:
                document[new] = document.pop(old)
        for name, value in self.values:
            document[name] = _json_value(value)
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _json_value(text: str) -> Any:
    """``12.5`` and ``true`` as JSON; anything else (``2026-12-01 10:00:00``) as a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def ledger_path(settings: Settings) -> Path:
    return settings.paths.run_dir / "data" / "dlq" / "replayed.jsonl"


class ReplayLedger:
    """The records already replayed, one JSON line each, keyed by source position."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def replayed(self) -> dict[str, dict[str, Any]]:
        """Source position (``topic:partition:offset``) -> its newest ledger entry."""
        return {entry["source"]: entry for entry in self.entries()}

    def record(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as ledger:
            ledger.write(json.dumps(entry, ensure_ascii=False) + "\n")
            ledger.flush()


@dataclass
class ReplayOutcome:
    sent: list[DeadLetter] = field(default_factory=list)  # one letter per record sent
    already: list[DeadLetter] = field(default_factory=list)  # replayed before: not sent
    failed: list[tuple[DeadLetter, str]] = field(default_factory=list)  # repair refused
    not_on_kafka: list[DeadLetter] = field(default_factory=list)  # re-pull their days
    rebuilt: int = 0  # sent from the letter's payload: the topic no longer had the record


def plan(letters: Iterable[DeadLetter], replayed: dict[str, dict[str, Any]], again: bool
         ) -> tuple[list[DeadLetter], ReplayOutcome]:  # fmt: skip
    """One letter per record to send; the rest sorted into the outcome."""
    outcome, chosen, seen = ReplayOutcome(), [], set()
    for letter in letters:
        if letter.source is None:
            outcome.not_on_kafka.append(letter)
        elif str(letter.source) in seen:
            continue
        elif str(letter.source) in replayed and not again:
            outcome.already.append(letter)
            seen.add(str(letter.source))
        else:
            chosen.append(letter)
            seen.add(str(letter.source))
    return chosen, outcome


def replay(settings: Settings, letters: list[DeadLetter], repair: Repair, *, again: bool = False,
           dry_run: bool = False, progress: Callable[[int, int], None] | None = None
           ) -> ReplayOutcome:  # fmt: skip
    """Send each letter's record back to its ODS topic (see the module's docstring)."""
    ledger = ReplayLedger(ledger_path(settings))
    chosen, outcome = plan(letters, ledger.replayed(), again)
    if not chosen:
        return outcome
    on_topic = fetch_records(settings, [letter.source for letter in chosen if letter.source])
    producer = None if dry_run else _producer(settings)
    try:
        for done, letter in enumerate(chosen, 1):
            _replay_one(letter, on_topic, repair, producer, ledger, outcome)
            if progress:
                progress(done, len(chosen))
    finally:
        if producer is not None:
            producer.close()
    return outcome


def _replay_one(letter: DeadLetter, on_topic: dict[SourcePosition, tuple[bytes | None, bytes]],
                repair: Repair, producer: KafkaProducer | None, ledger: ReplayLedger,
                outcome: ReplayOutcome) -> None:  # fmt: skip
    assert letter.source is not None
    key, original = on_topic.get(letter.source, (letter.key, letter.original))
    key = letter.key if letter.key is not None else key
    rebuilt = original is None
    if original is None:
        if not letter.whole_record_in_payload:
            outcome.failed.append((letter, "the record is gone from its topic (retention)"))
            return
        original = letter.payload.encode()
    try:
        value = repair.apply(original)
    except RepairError as error:
        outcome.failed.append((letter, str(error)))
        return
    sent_to = "(dry run)"
    if producer is not None:
        metadata = producer.send(letter.source.topic, key=key, value=value).get(timeout=30)
        sent_to = f"{metadata.topic}:{metadata.partition}:{metadata.offset}"
        ledger.record({
            "source": str(letter.source), "letter": f"{letter.stream}@{letter.letter_id}",
            "stage": letter.stage, "reason": letter.reason, "repair": repair.describe(),
            "sent_to": sent_to, "rebuilt": rebuilt, "replayed_at": int(time.time() * 1000),
        })  # fmt: skip
    outcome.sent.append(letter)
    outcome.rebuilt += int(rebuilt)


def _producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", linger_ms=5,
        client_id="erpbi-dlq-replay",
    )  # fmt: skip
