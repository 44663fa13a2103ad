"""Producer protocol, the kafka-python implementation and an in-memory one.

Contract the connectors rely on: ``send`` may buffer; ``flush`` returns only when every
record sent so far *by the calling thread* is acknowledged by all in-sync replicas, and
raises :class:`DeliveryFailedError` otherwise (streams run on several threads sharing one
producer; each thread must learn about its own failures). The cursor is saved only after
``flush``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from common.settings import KafkaSettings
from connectors.errors import DeliveryFailedError

log = logging.getLogger(__name__)


def encode_json(data: Mapping[str, Any] | Any) -> bytes:
    """Compact UTF-8 JSON; key order is kept so equal keys give equal bytes (partitioning)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class RecordProducer(Protocol):
    def send(self, topic: str, key: bytes | None, value: bytes) -> None: ...

    def flush(self, timeout_seconds: float | None = None) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ProducedRecord:
    topic: str
    key: bytes | None
    value: bytes

    def key_json(self) -> Any:
        return json.loads(self.key) if self.key is not None else None

    def value_json(self) -> Any:
        return json.loads(self.value)


class InMemoryProducer:
    """Keeps acknowledged records in a list: for tests and ``--dry-run``.

    ``fail_next_flush`` makes the next flush raise, to test that cursors stay put.
    """

    def __init__(self) -> None:
        self._pending: dict[int, list[ProducedRecord]] = {}  # per sending thread
        self.records: list[ProducedRecord] = []
        self.flush_count = 0
        self.fail_next_flush = False
        self.closed = False
        self._lock = threading.Lock()

    @property
    def pending(self) -> list[ProducedRecord]:
        with self._lock:
            return [record for batch in self._pending.values() for record in batch]

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        with self._lock:
            self._pending.setdefault(threading.get_ident(), []).append(
                ProducedRecord(topic, key, value)
            )

    def flush(self, timeout_seconds: float | None = None) -> None:
        with self._lock:
            self.flush_count += 1
            batch = self._pending.pop(threading.get_ident(), [])
            if self.fail_next_flush:
                self.fail_next_flush = False
                raise DeliveryFailedError("injected delivery failure")
            self.records.extend(batch)

    def close(self) -> None:
        self.closed = True

    def on_topic(self, topic: str) -> list[ProducedRecord]:
        return [record for record in self.records if record.topic == topic]


class KafkaRecordProducer:
    """kafka-python producer: acks=all, idempotent, retries; errors surface at flush."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        client_id: str = "erpbi-connectors",
        linger_ms: int = 20,
        compression_type: str | None = None,
        delivery_timeout_seconds: float = 120.0,
        **extra_config: Any,
    ):
        from kafka import KafkaProducer  # type: ignore[import-untyped]  # lazy: no broker in unit tests

        self._producer = KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            retries=2147483647,
            max_in_flight_requests_per_connection=5,
            linger_ms=linger_ms,
            compression_type=compression_type,
            delivery_timeout_ms=int(delivery_timeout_seconds * 1000),
            **extra_config,
        )
        self._delivery_timeout_seconds = delivery_timeout_seconds
        self._futures: dict[int, list[Any]] = {}  # per sending thread
        self._lock = threading.Lock()

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        try:
            future = self._producer.send(topic, key=key, value=value)
        except Exception as error:  # metadata timeout, buffer full, closed producer
            raise DeliveryFailedError(f"send to {topic} failed: {error}") from error
        with self._lock:
            self._futures.setdefault(threading.get_ident(), []).append(future)

    def flush(self, timeout_seconds: float | None = None) -> None:
        timeout = timeout_seconds if timeout_seconds is not None else self._delivery_timeout_seconds
        with self._lock:
            futures = self._futures.pop(threading.get_ident(), [])
        try:
            self._producer.flush(timeout=timeout)
        except Exception as error:  # kafka-python raises KafkaTimeoutError here
            raise DeliveryFailedError(f"flush did not complete: {error}") from error
        failures = [f.exception for f in futures if not f.is_done or f.failed()]
        if failures:
            raise DeliveryFailedError(
                f"{len(failures)} of {len(futures)} records not acknowledged: {failures[0]!r}"
            )

    def close(self) -> None:
        self._producer.close(timeout=10)
