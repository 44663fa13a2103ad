"""Dead letters as ``erpbi dlq`` reads them, and the records they stand for.

Three writers put letters on ``<prefix>.dlq.<stream>`` (their shapes differ):

- the Flink job (stage ``flink.<stream>``, ``flink.<stream>.items``): a record of the ODS
  topic it could not read or use, with the record's ``topic``, ``partition``, ``offset``
  and base64 ``key``; a record it could not read at all (not UTF-8, not a JSON object)
  also with its exact bytes as base64 ``original`` (``flink_jobs.kafka_tables``);
- the ClickHouse sink (stage ``clickhouse.<table>``): a widened row ClickHouse refused;
- the connectors (``source``: the ERP API): an ERP row that failed validation, ``raw``.

Only the first kind is on a Kafka topic and can be sent back there as it was. A letter is
named by its own place on the dead-letter topic, ``<partition>:<offset>``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from pydantic import BaseModel, ConfigDict

from common.settings import Settings
from common.streams import ODS_STREAMS
from connectors.models import BEIJING
from flink_jobs.health import records_since

# Every stream with a dead-letter topic (the connectors write one for each).
DLQ_STREAMS = ODS_STREAMS
MAX_LETTERS = 100_000  # per partition and read
_FETCH_TIMEOUT_MS = 5000


class SourcePosition(BaseModel):
    """Where a record sits on its ODS topic."""

    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


class DeadLetter(BaseModel):
    """One letter of any writer, with its id on the dead-letter topic."""

    model_config = ConfigDict(frozen=True)

    stream: str
    letter_id: str  # "<partition>:<offset>" on the dead-letter topic
    written_at_ms: int  # the dead-letter record's own Kafka timestamp
    stage: str
    reason: str
    payload: str  # readable text: decoded, rebuilt from its fields, or the refused row
    source: SourcePosition | None = None
    key: bytes | None = None
    original: bytes | None = None

    @property
    def written_at(self) -> datetime:
        return datetime.fromtimestamp(self.written_at_ms / 1000, BEIJING)

    @property
    def replayable(self) -> bool:
        """Its record is on an ODS topic (or in the letter) and can be sent back."""
        return self.source is not None

    @property
    def whole_record_in_payload(self) -> bool:
        """``payload`` is the whole record rebuilt (not one item of it, not a refused row)."""
        return self.stage == f"flink.{self.stream}" and self.original is None


def parse_letter(stream: str, letter_id: str, written_at_ms: int, value: bytes) -> DeadLetter:
    """A letter of any of the three shapes; an unreadable one is kept, reason and all."""
    try:
        body = json.loads(value)
        if not isinstance(body, dict):
            raise ValueError("not an object")
    except ValueError:
        return DeadLetter(stream=stream, letter_id=letter_id, written_at_ms=written_at_ms,
                          stage="?", reason="unreadable dead letter",
                          payload=value.decode("utf-8", "replace"))  # fmt: skip
    stage = str(body.get("stage") or f"connector.{body.get('source', '?')}")
    payload = body.get("payload")
    if payload is None and "raw" in body:
        payload = json.dumps(body["raw"], ensure_ascii=False)
    source = None
    if body.get("topic") and body.get("offset") is not None:
        source = SourcePosition(topic=body["topic"], partition=int(body.get("partition") or 0),
                                offset=int(body["offset"]))  # fmt: skip
    return DeadLetter(
        stream=stream, letter_id=letter_id, written_at_ms=written_at_ms, stage=stage,
        reason=str(body.get("reason", "")), payload=str(payload or ""), source=source,
        key=_base64(body.get("key")), original=_base64(body.get("original")),
    )  # fmt: skip


def _base64(text: Any) -> bytes | None:
    return base64.b64decode(text) if isinstance(text, str) else None


def read_letters(settings: Settings, stream: str, since_ms: int = 0) -> list[DeadLetter]:
    """The letters of ``stream`` written since ``since_ms``, oldest first per partition."""
    consumer = _consumer(settings)
    try:
        topic = settings.kafka.topic("dlq", stream)
        return [
            parse_letter(stream, f"{m.partition}:{m.offset}", m.timestamp, m.value)
            for m in records_since(consumer, topic, since_ms, MAX_LETTERS)
        ]
    finally:
        consumer.close()


def fetch_records(settings: Settings, positions: Iterable[SourcePosition]
                  ) -> dict[SourcePosition, tuple[bytes | None, bytes]]:  # fmt: skip
    """The (key, value) of each record still on its topic (retention may have dropped it)."""
    consumer = _consumer(settings)
    found: dict[SourcePosition, tuple[bytes | None, bytes]] = {}
    try:
        for position in sorted(set(positions), key=lambda p: (p.topic, p.partition, p.offset)):
            record = _record_at(consumer, position)
            if record is not None:
                found[position] = (record.key, record.value)
    finally:
        consumer.close()
    return found


def _record_at(consumer: KafkaConsumer, position: SourcePosition) -> Any:
    partition = TopicPartition(position.topic, position.partition)
    consumer.assign([partition])
    consumer.seek(partition, position.offset)
    for message in _polled(consumer):
        return message if message.offset == position.offset else None
    return None


def _polled(consumer: KafkaConsumer) -> Iterator[Any]:
    batch = consumer.poll(timeout_ms=_FETCH_TIMEOUT_MS, max_records=1)
    for messages in batch.values():
        yield from messages


def _consumer(settings: Settings) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers, enable_auto_commit=False,
        request_timeout_ms=10_000,
    )  # fmt: skip
