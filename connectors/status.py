"""``erpbi sync --status``: what each stream has done, read from the files it keeps.

Sources: the cursor files (``<data_dir>/connectors/<stream>.json``: cursor, ``stats``,
``retry_windows``, ``initial_load``) and ``quota-usage.json``, which a running connector
rewrites every couple of seconds (calls in the last minute per stream and across every
process on the app key, throttling, cadence mode, each stream's current poll pause).
The first load's progress and ETA come from the ``initial_load`` records: the calls
left (rows left at each part's page size) at the quota's per-minute limit.
Nothing here talks to the ERP or Kafka, so the status is cheap and works when the
connector is down (the quota line then says how old it is).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from common.settings import Settings
from connectors import initial_load
from connectors.models import BEIJING, parse_erp_time
from connectors.registry import STREAMS
from connectors.retries import pending_windows
from connectors.state import CursorStore, atomic_write_json, read_json

QUOTA_USAGE_FILE = "quota-usage.json"


def state_directory(settings: Settings) -> Path:
    return settings.paths.data_dir / "connectors"


@dataclass(frozen=True)
class StreamStatus:
    stream: str
    backlog: str  # whose backlog pages go first: dimensions, inventory, documents
    cursor: str  # human summary of the cursor
    last_success: datetime | None  # last cursor save (Beijing time)
    lag_seconds: float | None  # now - newest ``modified`` produced
    records_produced: int
    pending_retry_windows: int
    quota_calls_last_minute: int | None  # None: no running connector reported
    poll_pause_seconds: float | None = None  # the longest current pause of its targets
    load: initial_load.LoadProgress | None = None


@dataclass(frozen=True)
class QuotaUsage:
    written_at: datetime
    calls_last_minute: int
    per_minute_limit: int
    throttled_last_minute: int
    cadence: str
    by_stream: dict[str, int]
    all_processes_last_minute: int | None = None
    pauses: dict[str, float] | None = None

    @property
    def age_seconds(self) -> float:
        return (datetime.now(BEIJING) - self.written_at).total_seconds()


class QuotaUsageFile:
    """Written by the running connector (at most every ``interval_seconds``), read by status."""

    def __init__(self, path: Path, interval_seconds: float = 2.0):
        self.path = path
        self.interval_seconds = interval_seconds
        self._last_written = 0.0
        self._lock = threading.Lock()

    def write(
        self,
        usage: dict[str, Any],
        cadence: str,
        *,
        pauses: dict[str, float] | None = None,
        force: bool = False,
    ) -> bool:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last_written < self.interval_seconds:
                return False
            self._last_written = now
            body = {**usage, "cadence": cadence, "pauses": pauses or {}, "written_at": time.time()}
            atomic_write_json(self.path, body)
            return True

    def read(self) -> QuotaUsage | None:
        data = read_json(self.path)
        if not data:
            return None
        return QuotaUsage(
            written_at=datetime.fromtimestamp(float(data.get("written_at", 0)), BEIJING),
            calls_last_minute=int(data.get("calls_last_minute", 0)),
            per_minute_limit=int(data.get("limits", {}).get("per_minute", 0)),
            throttled_last_minute=int(data.get("throttled_last_minute", 0)),
            cadence=str(data.get("cadence", "?")),
            by_stream={str(k): int(v) for k, v in data.get("by_stream", {}).items()},
            all_processes_last_minute=data.get("all_processes_last_minute"),
            pauses={str(k): float(v) for k, v in data.get("pauses", {}).items()},
        )


def describe_cursor(state: dict[str, Any]) -> str:
    if "cursors" in state:
        cursors = {name: int(value) for name, value in state["cursors"].items()}
        if not cursors:
            return "-"
        if len(cursors) == 1:
            return f"ts {next(iter(cursors.values()))}"
        return f"ts {min(cursors.values())}..{max(cursors.values())} ({len(cursors)} parts)"
    if "window_end" in state:
        return f"modified <= {state['window_end']}"
    if "digests" in state:
        return f"{len(state['digests'])} known"
    return "-"


def stream_status(
    stream: str,
    state: dict[str, Any],
    *,
    backlog: str,
    quota: QuotaUsage | None,
    now: datetime,
) -> StreamStatus:
    stats = state.get("stats", {})
    last_ms = stats.get("last_success_ms") or state.get("updated_at_ms")
    last_modified = stats.get("last_modified")
    lag = (now - parse_erp_time(last_modified)).total_seconds() if last_modified else None
    fresh_quota = quota is not None and quota.age_seconds < 120
    return StreamStatus(
        stream=stream,
        backlog=backlog,
        cursor=describe_cursor(state),
        last_success=datetime.fromtimestamp(last_ms / 1000, BEIJING) if last_ms else None,
        lag_seconds=lag,
        records_produced=int(stats.get("records_produced", 0)),
        pending_retry_windows=len(pending_windows(state)),
        quota_calls_last_minute=quota.by_stream.get(stream, 0) if fresh_quota and quota else None,
        poll_pause_seconds=(quota.pauses or {}).get(stream) if fresh_quota and quota else None,
        load=initial_load.progress(stream, state),
    )


def sync_status(
    settings: Settings, *, state_dir: Path | None = None, now: datetime | None = None
) -> list[StreamStatus]:
    """One row per known stream (dimensions first), from the files on disk."""
    directory = state_dir if state_dir is not None else state_directory(settings)
    store = CursorStore(directory)
    quota = quota_usage(settings, state_dir=directory)
    moment = now if now is not None else datetime.now(BEIJING)
    return [
        stream_status(
            name, store.load(name), backlog=cls.backlog_urgency.name.lower(), quota=quota,
            now=moment,
        )  # fmt: skip
        for name, cls in STREAMS.items()
    ]


def quota_usage(settings: Settings, *, state_dir: Path | None = None) -> QuotaUsage | None:
    directory = state_dir if state_dir is not None else state_directory(settings)
    return QuotaUsageFile(directory / QUOTA_USAGE_FILE).read()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _load_cell(load: initial_load.LoadProgress | None) -> str:
    if load is None:
        return "-"
    if load.done:
        return "done"
    return "?" if load.share is None else f"{load.share * 100:.0f}%"


def load_summary(rows: list[StreamStatus], per_minute_limit: int, now: datetime) -> str | None:
    """One line on the first load: progress, ETA at the quota, or how long it took."""
    loads = [row.load for row in rows if row.load is not None]
    if not loads:
        return None
    started = min(load.started_ms for load in loads)
    if all(load.done for load in loads):
        finished = max(int(load.done_ms or 0) for load in loads)
        return f"initial load: done in {_duration((finished - started) / 1000)}"
    read = sum(load.read for load in loads)
    totals = [load.total for load in loads]
    calls = sum(load.remaining_calls for load in loads if not load.done)
    elapsed = now.timestamp() - started / 1000
    if any(total is None for total in totals):
        amount = f"{read} rows read, totals still being counted"
    else:
        total = sum(t for t in totals if t is not None)
        amount = f"{read * 100 // max(1, total)}% ({read} of {total} rows)"
    rate = per_minute_limit if per_minute_limit > 0 else 100
    eta = calls / rate * 60
    return (
        f"initial load: {amount}, {_duration(elapsed)} so far, about {_duration(eta)} left "
        f"({calls} calls at {rate}/min)"
    )


def format_status(
    rows: list[StreamStatus],
    quota: QuotaUsage | None = None,
    now: datetime | None = None,
    *,
    per_minute_limit: int | None = None,
) -> str:
    """A fixed-width table, then the first load's progress and the shared quota."""
    header = ("STREAM", "BACKLOG", "CURSOR", "LAST SUCCESS", "LAG", "RECORDS", "LOAD",
              "RETRY", "CALLS/MIN", "POLL")  # fmt: skip
    lines = [header]
    for row in rows:
        lines.append(
            (
                row.stream,
                row.backlog,
                row.cursor,
                row.last_success.strftime("%m-%d %H:%M:%S") if row.last_success else "never",
                _duration(row.lag_seconds),
                str(row.records_produced),
                _load_cell(row.load),
                str(row.pending_retry_windows),
                "-" if row.quota_calls_last_minute is None else str(row.quota_calls_last_minute),
                "-" if row.poll_pause_seconds is None else f"{row.poll_pause_seconds:g}s",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip()
            for line in lines]  # fmt: skip
    limit = quota.per_minute_limit if quota is not None else (per_minute_limit or 0)
    summary = load_summary(rows, limit, now if now is not None else datetime.now(BEIJING))
    if summary is not None:
        text.append(summary)
    if quota is not None:
        everyone = quota.all_processes_last_minute
        shared = "" if everyone is None else f" ({everyone} by every process on this app key)"
        text.append(
            f"quota: {quota.calls_last_minute}/{quota.per_minute_limit} calls in the last "
            f"minute{shared}, {quota.throttled_last_minute} throttled, cadence "
            f"{quota.cadence} (reported {_duration(quota.age_seconds)} ago)"
        )
    else:
        text.append("quota: no running connector has reported yet")
    return "\n".join(text)
