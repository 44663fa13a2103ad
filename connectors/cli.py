"""Entry points: :func:`run_sync` (for the erpbi CLI) and ``python -m connectors``.

One process shares one JushuitanClient (and so one QuotaBudget) across its streams, and
runs them in turn on one thread: the per-app quota is global, parallel threads would
only fight for it. In follow mode, retriable failures (rate limits, Kafka unavailable)
double the poll interval up to five minutes -- the pipeline degrades to coarser
freshness instead of stopping -- and a clean round resets it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from common.settings import Settings, load_settings
from connectors.base import PageProgress, Source, StreamConnector, SyncReport
from connectors.errors import FatalConfigurationError, RetriableError
from connectors.inventory import InventoryConnector
from connectors.jushuitan.client import JushuitanClient
from connectors.jushuitan.source import JushuitanSource
from connectors.kafka_producer import InMemoryProducer, KafkaRecordProducer, RecordProducer
from connectors.sku import SkuConnector
from connectors.state import CursorStore
from connectors.warehouse import WarehouseConnector

log = logging.getLogger(__name__)

# Dimensions first, so that facts of one round find their labels already in Kafka.
STREAMS: dict[str, type[StreamConnector]] = {
    "warehouse": WarehouseConnector,
    "sku": SkuConnector,
    "inventory": InventoryConnector,
}
MAX_DEGRADED_POLL_SECONDS = 300.0


def state_directory(settings: Settings) -> Path:
    return settings.paths.data_dir / "connectors"


def build_source(settings: Settings, state_dir: Path | None = None) -> JushuitanSource:
    token_path = (state_dir or state_directory(settings)) / "jushuitan-token.json"
    return JushuitanSource(JushuitanClient(settings.jushuitan, token_path=token_path))


def build_connectors(
    settings: Settings,
    streams: Sequence[str],
    *,
    source: Source,
    producer: RecordProducer,
    store: CursorStore,
    stop_event: threading.Event,
    on_page: Callable[[PageProgress], None] | None = None,
) -> list[StreamConnector]:
    unknown = [stream for stream in streams if stream not in STREAMS]
    if unknown:
        raise FatalConfigurationError(f"unknown streams {unknown}; known: {sorted(STREAMS)}")
    return [
        STREAMS[stream](
            source,
            producer,
            store,
            settings.kafka,
            page_size=settings.jushuitan.page_size,
            on_page=on_page,
            stop_event=stop_event,
        )
        for stream in streams
    ]


def run_sync(
    settings: Settings,
    streams: Sequence[str],
    follow: bool,
    stop_event: threading.Event | None = None,
    *,
    producer: RecordProducer | None = None,
    source: Source | None = None,
    state_dir: Path | None = None,
    on_page: Callable[[PageProgress], None] | None = None,
) -> dict[str, SyncReport]:
    """Sync ``streams`` once (catch up, then return) or follow until ``stop_event`` is set.

    Progress is logged per page (logger ``connectors.base``) and passed to ``on_page``.
    Returns the totals per stream. Fatal errors propagate; in ``once`` mode retriable
    ones do too (after the client's own retries).
    """
    stop_event = stop_event if stop_event is not None else threading.Event()
    state_dir = state_dir if state_dir is not None else state_directory(settings)
    own_producer = producer is None
    producer = producer if producer is not None else KafkaRecordProducer(settings.kafka)
    source = source if source is not None else build_source(settings, state_dir)
    connectors = build_connectors(
        settings,
        streams,
        source=source,
        producer=producer,
        store=CursorStore(state_dir),
        stop_event=stop_event,
        on_page=on_page,
    )
    totals = {connector.stream: SyncReport(connector.stream) for connector in connectors}
    poll_seconds = settings.jushuitan.poll_interval_seconds
    delay = poll_seconds
    try:
        while not stop_event.is_set():
            degraded = False
            for connector in connectors:
                if stop_event.is_set():
                    break
                try:
                    report = connector.sync_once()
                except RetriableError as error:
                    if not follow:
                        raise
                    degraded = True
                    log.warning("%s: %s: %s", connector.stream, type(error).__name__, error)
                    continue
                total = totals[connector.stream]
                total.pages += report.pages
                total.records += report.records
                total.dead_letters += report.dead_letters
                total.duplicates_dropped += report.duplicates_dropped
                if report.records or report.dead_letters:
                    log.info(
                        "%s: %d records, %d dead letters in %d pages",
                        connector.stream,
                        report.records,
                        report.dead_letters,
                        report.pages,
                    )
            if not follow:
                break
            delay = (
                min(max(delay * 2, poll_seconds), MAX_DEGRADED_POLL_SECONDS)
                if degraded
                else poll_seconds
            )
            if degraded:
                log.warning("degraded: next poll in %.0f s", delay)
            stop_event.wait(delay)
    finally:
        if own_producer:
            producer.close()
    return totals


def sync(
    stream: str,
    mode: str = "once",
    settings: Settings | None = None,
    stop_event: threading.Event | None = None,
) -> SyncReport:
    """``sync("inventory", "once" | "follow")`` with settings loaded from the environment."""
    if mode not in ("once", "follow"):
        raise FatalConfigurationError("mode is 'once' or 'follow'")
    settings = settings if settings is not None else load_settings()
    return run_sync(settings, [stream], mode == "follow", stop_event)[stream]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors")
    parser.add_argument("command", choices=["sync"])
    parser.add_argument(
        "--stream",
        action="append",
        choices=sorted(STREAMS),
        help="repeatable; default: all streams",
    )
    parser.add_argument("--follow", action="store_true", help="keep polling until Ctrl-C")
    parser.add_argument("--dry-run", action="store_true", help="do not write to Kafka")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stop_event = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    settings = load_settings()
    producer: RecordProducer | None = InMemoryProducer() if args.dry_run else None
    totals = run_sync(
        settings, args.stream or list(STREAMS), args.follow, stop_event, producer=producer
    )
    for report in totals.values():
        print(
            f"{report.stream}: {report.records} records, {report.dead_letters} dead letters, "
            f"{report.pages} pages",
            flush=True,
        )
    return 0
