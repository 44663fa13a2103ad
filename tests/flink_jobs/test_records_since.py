"""Reading a topic since a moment (dead letters, `erpbi dlq`, the alerts' letter counts):
each record once, even when the client hands a batch over again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition
from kafka.structs import OffsetAndTimestamp

from flink_jobs.health import records_since

TOPIC = "erp.dlq.outbound"


@dataclass
class Message:
    partition: int
    offset: int


class RepeatingConsumer:
    """Two partitions: 0 holds offsets 0-9, 1 holds 0-4; the first moment past ``since`` is
    offset 5 on partition 0 and none on 1. Each batch comes twice, and the first one of
    partition 0 starts before the sought offset (a record batch fetched whole)."""

    def __init__(self) -> None:
        self.positions: dict[TopicPartition, int] = {}
        self.batches: list[dict[TopicPartition, list[Message]]] = []

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1}

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = partitions

    def offsets_for_times(self, times: dict[TopicPartition, int]) -> dict[TopicPartition, Any]:
        return {TopicPartition(TOPIC, 0): OffsetAndTimestamp(5, 0, None),
                TopicPartition(TOPIC, 1): None}  # fmt: skip

    def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {TopicPartition(TOPIC, 0): 10, TopicPartition(TOPIC, 1): 5}

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.positions[partition] = offset
        zero = TopicPartition(TOPIC, 0)
        first = {zero: [Message(0, o) for o in range(3, 8)]}
        second = {zero: [Message(0, o) for o in range(8, 12)]}
        self.batches = [first, first, second, second]

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Message]]:
        return self.batches.pop(0) if self.batches else {}


def test_each_record_since_the_moment_is_read_once_in_order() -> None:
    read = list(records_since(RepeatingConsumer(), TOPIC, 1_000, limit=100))  # type: ignore[arg-type]
    assert [(m.partition, m.offset) for m in read] == [(0, o) for o in range(5, 10)]


def test_the_limit_is_per_partition() -> None:
    read = list(records_since(RepeatingConsumer(), TOPIC, 1_000, limit=2))  # type: ignore[arg-type]
    assert [m.offset for m in read] == [5, 6]
