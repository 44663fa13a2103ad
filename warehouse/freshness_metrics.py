"""How far behind the ERP the screens are, as Prometheus metrics (the ``pipeline`` job of
monitoring/METRICS.md, served by the monitor process).

:class:`FreshnessCollector` reads the serving view every screen's 数据截至 line reads
(``serving_freshness``: the newest ERP modification time landed per stream) at each scrape
and compares it with the warehouse's ``now()``, as the ``data_freshness`` alert does
(dashboards/assets/alerts/data_freshness.yaml). A stream with nothing landed yet has no
series: its age is unknown, not fifty years.

Also what the monitor's collectors share (the Flink and Kafka ones are in
``flink_jobs.metrics``): :class:`SourceCollector`, so that a scrape never waits on a source
for more than a few seconds nor fails because of it, and :class:`MergedCollector`, to
register them as one (asked in parallel, ``erpbi_monitor_source_up`` exposed once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, Protocol, TypeVar

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from common.settings import Settings
from warehouse.client import connect

log = logging.getLogger(__name__)
T = TypeVar("T")
ReadingT = TypeVar("ReadingT")
# Family name -> (family class, help, label names): what a collector exposes.
FamilySpecs = Mapping[str, tuple[Callable[..., Metric], str, tuple[str, ...]]]
# Family name -> label values -> value: what one scrape read.
Samples = Mapping[str, Mapping[tuple[str, ...], float]]

# Seconds from each stream's newest landed ERP change to now, computed by the warehouse
# itself (DateTime('Asia/Shanghai') columns hold instants: no time-zone arithmetic here).
FRESHNESS_SQL = """
SELECT stream, dateDiff('second', newest, now()) AS behind_seconds
FROM serving_freshness
WHERE toUnixTimestamp(newest) > 0
ORDER BY stream
"""
FRESHNESS_FAMILIES: FamilySpecs = {
    "erpbi_stream_freshness_seconds": (GaugeMetricFamily, "Seconds from the newest ERP "
        "modification time visible on the screens (view serving_freshness) to now.",
        ("stream",)),
}  # fmt: skip


class BoundedCall:
    """Runs one read at a time on a daemon thread and waits for it at most ``seconds``.

    A read still running from an earlier call fails the next call at once, so a hung source
    never piles up threads; a daemon thread never keeps the process from exiting.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def run(self, read: Callable[[], T], seconds: float) -> T:
        outcome: list[tuple[bool, Any]] = []

        def target() -> None:
            try:
                outcome.append((True, read()))
            except Exception as error:  # handed to the caller below
                outcome.append((False, error))

        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise TimeoutError(f"{self._name}: the previous read is still running")
            thread = threading.Thread(target=target, name=self._name, daemon=True)
            self._thread = thread
            thread.start()
        thread.join(seconds)
        if not outcome:
            raise TimeoutError(f"{self._name}: no answer within {seconds:.1f} s")
        succeeded, value = outcome[0]
        if not succeeded:
            raise value
        return value  # type: ignore[no-any-return]


def families(specs: FamilySpecs, samples: Samples) -> Iterator[Metric]:
    """Every family of ``specs``, with the samples read (none: the family is still exposed)."""
    for name, (kind, documentation, labels) in specs.items():
        family: Any = kind(name, documentation, labels=list(labels))  # a *MetricFamily
        for label_values, value in sorted(samples.get(name, {}).items()):
            family.add_metric(list(label_values), value)
        yield family


def source_up_family(source: str, up: bool) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "erpbi_monitor_source_up",
        "1 when the monitor could read this source (flink/kafka/warehouse) at this scrape.",
        labels=["source"],
    )
    family.add_metric([source], 1.0 if up else 0.0)
    return family


class SourceCollector(Generic[ReadingT]):
    """A prometheus_client collector that reads one source at each scrape.

    Subclasses give ``read()`` (on a worker thread, one at a time) and ``families(reading)``
    (``None``: the source could not be read). ``collect()`` waits for the read at most
    ``timeout_seconds``, never raises, and adds ``erpbi_monitor_source_up{source}``; after a
    failure the source is not asked again for ``retry_after_seconds``. ``describe()``
    leaves that shared family out, so several of these fit in one registry.
    """

    source = ""

    def __init__(self, timeout_seconds: float, retry_after_seconds: float = 0.0) -> None:
        self._timeout, self._retry_after = timeout_seconds, retry_after_seconds
        self._reads = BoundedCall(f"{self.source}-metrics")
        self._retry_at = 0.0
        self._was_up = True

    def read(self) -> ReadingT:
        raise NotImplementedError

    def families(self, reading: ReadingT | None) -> Iterable[Metric]:
        raise NotImplementedError

    def describe(self) -> Iterator[Metric]:
        yield from self.families(None)

    def collect(self) -> Iterator[Metric]:
        reading = None
        if time.monotonic() >= self._retry_at:
            try:
                reading = self._reads.run(self.read, self._timeout)
            except Exception as error:  # a scrape must never fail: the source is reported down
                if self._was_up:
                    log.warning("metrics: %s cannot be read (%s)", self.source, error)
                self._retry_at = time.monotonic() + self._retry_after
        self._was_up = reading is not None
        yield from self.families(reading)
        yield source_up_family(self.source, reading is not None)


class FreshnessCollector(SourceCollector[dict[str, float]]):
    """``erpbi_stream_freshness_seconds{stream}``, and ``erpbi_monitor_source_up`` of the
    warehouse. One client is kept between scrapes, opened again after a failure."""

    source = "warehouse"

    def __init__(
        self,
        settings: Settings,
        *,
        timeout_seconds: float = 2.0,
        open_client: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(timeout_seconds)
        self._open_client = open_client or (lambda: connect(settings.clickhouse))
        self._client: Any = None

    def read(self) -> dict[str, float]:
        if self._client is None:
            self._client = self._open_client()
        try:
            rows = self._client.query(FRESHNESS_SQL).result_rows
        except Exception:
            self._close()
            raise
        # An ERP clock slightly ahead of the warehouse's is not "fresher than now".
        return {str(stream): max(0.0, float(seconds)) for stream, seconds in rows}

    def families(self, reading: dict[str, float] | None) -> Iterator[Metric]:
        behind: dict[tuple[str, ...], float] = {
            (stream,): age for stream, age in (reading or {}).items()
        }
        return families(FRESHNESS_FAMILIES, {"erpbi_stream_freshness_seconds": behind})

    def _close(self) -> None:
        client, self._client = self._client, None
        try:
            client.close()
        except Exception:  # already broken: nothing more to release
            log.debug("closing the warehouse client failed", exc_info=True)


class Collector(Protocol):
    def collect(self) -> Iterable[Metric]: ...


class MergedCollector:
    """Several collectors as one: asked in parallel (a scrape waits for the slowest, not for
    all of them in turn), and a family several of them yield (``erpbi_monitor_source_up``)
    exposed once: a family repeated in one exposition is invalid (OpenMetrics parsers refuse
    it, and prometheus_client serves OpenMetrics to a Prometheus that asks for it)."""

    def __init__(self, collectors: Iterable[Collector]) -> None:
        self._collectors = list(collectors)
        self._pool = ThreadPoolExecutor(max(1, len(self._collectors)), "pipeline-metrics")

    def describe(self) -> Iterator[Metric]:
        return iter(())  # known only by asking the sources: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for found in self._pool.map(_families_of, self._collectors):
            for family in found:
                if family.name in merged:
                    merged[family.name].samples.extend(family.samples)
                else:
                    merged[family.name] = family
        return iter(merged.values())


def _families_of(collector: Collector) -> list[Metric]:
    try:
        return list(collector.collect())
    except Exception:  # one broken collector must not cost the others their scrape
        log.exception("a pipeline metrics collector failed")
        return []
