"""A checkpoint-safe batching ClickHouse sink for PyFlink: one operator for every table.

The SQL side turns each widened row into ``(target_table, row_key, row_version, payload)`` where
``payload`` is one JSONEachRow line built by Flink's JSON_OBJECT, so the Python side
does almost no per-row work: it appends the line to keyed ``ListState`` and a
processing-time timer flushes the lines to ClickHouse at least every
``flush_interval_ms`` (sooner at ``flush_max_rows``). ClickHouse parses the JSON,
including GMT+8 times, against the column types.

Why state and not a Python list: a row is either in checkpointed state or already in
ClickHouse, so a crash at any point loses nothing; a replay after restore may insert
a row twice, which the ReplacingMergeTree (business key + version) collapses.

Commit order: row enters state -> checkpoint (Kafka offsets + buffered rows) -> timer
fires -> INSERT per table (retried with capped, jittered backoff while ClickHouse is
away, which back-pressures the job) -> state cleared.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from typing import Any

from pyflink.common import Row, RowKind
from pyflink.common.typeinfo import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor

from common.settings import ClickHouseSettings

LOG = logging.getLogger(__name__)
UPSERT_KINDS = (RowKind.INSERT, RowKind.UPDATE_AFTER)
INSERT_SETTINGS = {
    "date_time_input_format": "best_effort",
    "input_format_skip_unknown_fields": 1,
}


class ClickHouseBatchSink(KeyedProcessFunction):  # type: ignore[misc]
    def __init__(
        self,
        clickhouse: ClickHouseSettings,
        flush_interval_ms: int,
        flush_max_rows: int,
        retry_max_seconds: float,
    ) -> None:
        self._clickhouse = clickhouse
        self._flush_interval_ms = flush_interval_ms
        self._flush_max_rows = flush_max_rows
        self._retry_max_seconds = retry_max_seconds
        self._client: Any = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self._buffer = runtime_context.get_list_state(
            ListStateDescriptor(
                "buffer",
                Types.TUPLE([Types.STRING(), Types.STRING(), Types.LONG(), Types.STRING()]),
            )
        )
        self._pending = runtime_context.get_state(ValueStateDescriptor("pending", Types.LONG()))
        self._timer = runtime_context.get_state(ValueStateDescriptor("timer", Types.LONG()))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> list[Any]:
        """Buffer upserts; UPDATE_BEFORE/DELETE retractions are superseded by the next upsert."""
        if value.get_row_kind() not in UPSERT_KINDS:
            return []
        self._buffer.add((value[0], value[1], value[2], value[3]))
        pending = (self._pending.value() or 0) + 1
        self._pending.update(pending)
        if pending >= self._flush_max_rows:
            self._flush()
        elif self._timer.value() is None:
            due = ctx.timer_service().current_processing_time() + self._flush_interval_ms
            ctx.timer_service().register_processing_time_timer(due)
            self._timer.update(due)
        return []  # a sink emits nothing; PyFlink expects an iterable

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> list[Any]:
        self._timer.clear()
        self._flush()
        return []

    def _flush(self) -> None:
        batches = latest_per_key(self._buffer.get() or [])
        for table, lines in batches.items():
            self._insert_with_retry(table, lines)
        self._buffer.clear()
        self._pending.clear()

    def _insert_with_retry(self, table: str, lines: list[str]) -> None:
        body = ("\n".join(lines) + "\n").encode("utf-8")
        delay = 0.5
        while True:
            try:
                self._connect().raw_insert(
                    table, insert_block=body, fmt="JSONEachRow", settings=INSERT_SETTINGS
                )
                return
            except Exception as error:  # noqa: BLE001 - any failure: reconnect, back off, retry
                LOG.warning(
                    "insert of %d rows into %s failed (%s: %s); retrying in %.1fs",
                    len(lines), table, type(error).__name__, str(error)[:200], delay,
                )  # fmt: skip
                self._client = None
                time.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self._retry_max_seconds)

    def _connect(self) -> Any:
        if self._client is None:
            from warehouse.client import connect

            self._client = connect(self._clickhouse)
        return self._client


def latest_per_key(rows: Any) -> dict[str, list[str]]:
    """Group lines by table, one line per row key: the highest version, the later on a tie.

    This is what the ReplacingMergeTree keeps too; doing it here keeps an older version
    that arrived late in the same batch from hiding a re-widened newer one.
    """
    per_table: dict[str, dict[str, tuple[int, str]]] = defaultdict(dict)
    for table, row_key, version, payload in rows:
        lines = per_table[table]
        kept = lines.get(row_key)
        if kept is None or version >= kept[0]:
            lines[row_key] = (version, payload)
    return {table: [line for _, line in lines.values()] for table, lines in per_table.items()}
