"""A checkpoint-safe batching ClickHouse sink for PyFlink DataStreams.

Rows are appended to Flink keyed ``ListState`` (part of every checkpoint) and a
processing-time timer flushes them to ClickHouse at least every
``flush_interval_ms``, or sooner when ``flush_max_rows`` are waiting. Why this
shape: a row is either still in checkpointed state or already in ClickHouse,
so a crash at any point loses nothing; a replay after restore may insert a row
twice, which the ReplacingMergeTree (business key + version) collapses.

Commit order: rows enter state -> checkpoint (offsets + buffered rows) ->
timer fires -> INSERT (retried with backoff while ClickHouse is away, which
back-pressures the job) -> state cleared.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pyflink.common import Row
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor
from pyflink.common.typeinfo import Types

from common.settings import ClickHouseSettings

LOG = logging.getLogger(__name__)

RowConverter = Callable[[Row], tuple[Any, ...]]


@dataclass(frozen=True)
class SinkTarget:
    """Where and how rows land: table, column order, dedupe key, row converter."""

    table: str
    columns: Sequence[str]
    key_columns: Sequence[str]
    convert: RowConverter


class ClickHouseBatchSink(KeyedProcessFunction):  # type: ignore[misc]
    def __init__(
        self,
        clickhouse: ClickHouseSettings,
        target: SinkTarget,
        flush_interval_ms: int,
        flush_max_rows: int,
        retry_max_seconds: float,
    ) -> None:
        self._clickhouse = clickhouse
        self._target = target
        self._flush_interval_ms = flush_interval_ms
        self._flush_max_rows = flush_max_rows
        self._retry_max_seconds = retry_max_seconds
        self._client: Any = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self._buffer = runtime_context.get_list_state(
            ListStateDescriptor("buffer", Types.PICKLED_BYTE_ARRAY())
        )
        self._pending = runtime_context.get_state(ValueStateDescriptor("pending", Types.LONG()))
        self._timer = runtime_context.get_state(ValueStateDescriptor("timer", Types.LONG()))
        self._key_positions = [self._target.columns.index(c) for c in self._target.key_columns]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> list[Any]:
        self._buffer.add(self._target.convert(value))
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
        rows = list(self._buffer.get() or [])
        if rows:
            self._insert_with_retry(self._latest_per_key(rows))
        self._buffer.clear()
        self._pending.clear()

    def _latest_per_key(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Keep the last row per business key: a later row in a batch supersedes an earlier one."""
        latest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for row in rows:
            key = tuple(row[i] for i in self._key_positions)
            latest.pop(key, None)
            latest[key] = row
        return list(latest.values())

    def _insert_with_retry(self, rows: list[tuple[Any, ...]]) -> None:
        delay = 0.5
        while True:
            try:
                client = self._connect()
                client.insert(self._target.table, rows, column_names=list(self._target.columns))
                return
            except Exception as error:  # noqa: BLE001 - any failure: reconnect and retry
                LOG.warning(
                    "ClickHouse insert of %d rows into %s failed (%s); retrying in %.1fs",
                    len(rows),
                    self._target.table,
                    type(error).__name__,
                    delay,
                )
                self._client = None
                time.sleep(delay)
                delay = min(delay * 2, self._retry_max_seconds)

    def _connect(self) -> Any:
        if self._client is None:
            from warehouse.client import connect

            self._client = connect(self._clickhouse)
        return self._client
