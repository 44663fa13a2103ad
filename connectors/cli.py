"""Entry points: :func:`run_sync` and :func:`sync_status` (for the erpbi CLI) and
``python -m connectors``.

One process shares one JushuitanClient (and so one :class:`QuotaBudget`, itself shared
with every other process on this machine using the same app key) across its streams.
Each stream runs on its own worker, paced by what its polls find, and each call carries
an urgency to the budget (see :mod:`connectors.runner`). In follow mode the shared
:class:`Cadence` backs off after throttled polls and, under sustained throttling,
degrades to 5-minute cycles, returning to normal by itself (see :mod:`connectors.cadence`).
A running connector rewrites ``quota-usage.json`` next to the cursor files for
``sync --status``, and in follow mode serves Prometheus metrics on
``monitoring.connector_port`` (:mod:`connectors.metrics`).
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
from connectors import metrics
from connectors.base import PageProgress, Source, StreamConnector, SyncReport
from connectors.cadence import Cadence
from connectors.errors import FatalConfigurationError
from connectors.jushuitan.client import JushuitanClient
from connectors.jushuitan.quota import QuotaBudget
from connectors.jushuitan.source import JushuitanSource
from connectors.kafka_producer import InMemoryProducer, KafkaRecordProducer, RecordProducer
from connectors.registry import STREAMS
from connectors.runner import SyncRunner
from connectors.state import CursorStore
from connectors.status import (
    QUOTA_USAGE_FILE,
    QuotaUsageFile,
    format_status,
    quota_usage,
    state_directory,
    sync_status,
)
from connectors.urgency import Urgency

log = logging.getLogger(__name__)

__all__ = ["STREAMS", "format_status", "run_sync", "state_directory", "sync_status"]

SOURCES = ("jushuitan", "qimen")
PAGE_ATTEMPTS = 3  # then the page's window is parked for retry (connectors.retries)
DEGRADED_CYCLE_SECONDS = 300.0


def build_source(
    settings: Settings,
    state_dir: Path | None = None,
    *,
    source_name: str = "jushuitan",
    budget: QuotaBudget | None = None,
    max_attempts: int = PAGE_ATTEMPTS,
) -> Source:
    """The ERP gateway; ``qimen`` is a documented stub (see :mod:`connectors.qimen`)."""
    if source_name == "qimen":
        from connectors.qimen import QimenSource

        return QimenSource(settings)
    if source_name != "jushuitan":
        raise FatalConfigurationError(f"unknown source {source_name!r}; known: {SOURCES}")
    token_path = (state_dir or state_directory(settings)) / "jushuitan-token.json"
    client = JushuitanClient(
        settings.jushuitan, budget=budget, token_path=token_path, max_attempts=max_attempts
    )
    return JushuitanSource(client)


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
        for stream in STREAMS  # registry order: dimensions first
        if stream in streams
    ]


def budget_of(source: Source) -> QuotaBudget | None:
    client = getattr(source, "client", None)
    budget = getattr(client, "budget", None)
    return budget if isinstance(budget, QuotaBudget) else None


def build_cadence(
    settings: Settings, source: Source, connectors: Sequence[StreamConnector]
) -> Cadence:
    cadence = Cadence(
        settings.jushuitan.poll_interval_seconds, degraded_cycle_seconds=DEGRADED_CYCLE_SECONDS
    )
    attach_cadence(cadence, source, connectors)
    return cadence


def attach_cadence(cadence: Cadence, source: Source, connectors: Sequence[StreamConnector]) -> None:
    """Probe = one cheap read of the first document stream; throttling = the budget's counter."""
    budget = budget_of(source)
    probe_target = next(
        (c for c in connectors if c.backlog_urgency is Urgency.DOCUMENTS),
        connectors[0] if connectors else None,
    )
    cadence.attach(
        probe=probe_target.probe if probe_target is not None else None,
        throttle_count=(lambda: budget.throttled_count) if budget is not None else None,
    )


def watch_metrics(
    budget: QuotaBudget | None, connectors: Sequence[StreamConnector], store: CursorStore
) -> None:
    """Quota gauges read this budget; cursor lag and parked windows start from the saved
    state, so a restarted connector reports them before its first save."""
    if budget is not None:
        metrics.watch_quota(budget)
    for connector in connectors:
        metrics.note_state(connector.stream, store.load(connector.stream))


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
    cadence: Cadence | None = None,
) -> dict[str, SyncReport]:
    """Sync ``streams`` once (catch up, then return) or follow until ``stop_event`` is set.

    Progress is logged per page (logger ``connectors.base``, with records/s), a summary
    per stream sync (``connectors.runner``), and passed to ``on_page``. Returns the totals
    per stream. Fatal errors propagate; in once mode retriable ones do too, and windows
    left parked raise :class:`~connectors.errors.SyncIncompleteError`.
    """
    stop_event = stop_event if stop_event is not None else threading.Event()
    state_dir = state_dir if state_dir is not None else state_directory(settings)
    own_producer = producer is None
    producer = producer if producer is not None else KafkaRecordProducer(settings.kafka)
    source = source if source is not None else build_source(settings, state_dir)
    usage_file = QuotaUsageFile(state_dir / QUOTA_USAGE_FILE)
    budget = budget_of(source)
    holder: list[Cadence] = []
    runners: list[SyncRunner] = []

    def report_usage(force: bool = False) -> None:
        if budget is not None and holder:
            pauses = runners[0].current_pauses() if runners else {}
            try:
                usage_file.write(budget.usage(), str(holder[0].mode), pauses=pauses, force=force)
            except OSError as error:  # status is a courtesy: never stop the sync for it
                log.warning("cannot write %s: %s", usage_file.path, error)

    def page_hook(progress: PageProgress) -> None:
        if runners:
            runners[0].note_page(progress)
        report_usage()
        if on_page is not None:
            on_page(progress)

    store = CursorStore(state_dir)
    connectors = build_connectors(
        settings,
        streams,
        source=source,
        producer=producer,
        store=store,
        stop_event=stop_event,
        on_page=page_hook,
    )
    watch_metrics(budget, connectors, store)
    if cadence is not None:
        attach_cadence(cadence, source, connectors)
    holder.append(cadence if cadence is not None else build_cadence(settings, source, connectors))
    runner = SyncRunner(
        connectors,
        follow=follow,
        stop_event=stop_event,
        cadence=holder[0],
        poll_least_seconds=settings.jushuitan.poll_interval_seconds,
        poll_most_seconds=settings.jushuitan.poll_max_seconds.model_dump(),
        after_sync=lambda report: report_usage(),
        on_stop=budget.interrupt if budget is not None else None,
        calls_made=(lambda: budget.total_calls) if budget is not None else None,
    )
    runners.append(runner)
    try:
        return runner.run()
    finally:
        report_usage(force=True)
        if own_producer:
            producer.close()


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


def print_status(settings: Settings) -> str:
    """The text of ``erpbi sync --status``."""
    return format_status(
        sync_status(settings),
        quota_usage(settings),
        per_minute_limit=settings.jushuitan.requests_per_minute,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors")
    parser.add_argument("command", choices=["sync", "status"])
    parser.add_argument(
        "--stream",
        action="append",
        choices=sorted(STREAMS),
        help="repeatable; default: all streams",
    )
    parser.add_argument("--follow", action="store_true", help="keep polling until Ctrl-C")
    parser.add_argument("--dry-run", action="store_true", help="do not write to Kafka")
    parser.add_argument("--source", choices=SOURCES, default="jushuitan")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = load_settings()
    if args.command == "status":
        print(print_status(settings), flush=True)
        return 0
    stop_event = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    producer: RecordProducer | None = InMemoryProducer() if args.dry_run else None
    source = build_source(settings, source_name=args.source)
    if args.follow:  # the long-running service: scraped by Prometheus
        metrics.serve(settings.monitoring.connector_port, settings.monitoring.metrics_bind)
    totals = run_sync(
        settings,
        args.stream or list(STREAMS),
        args.follow,
        stop_event,
        producer=producer,
        source=source,
    )
    for report in totals.values():
        print(report.summary(), flush=True)
    return 0
